// npm start: build the offline web demo if its sources changed, then serve dist/web on 127.0.0.1.
// PORT picks the port (default 8086; 0 for any free one).
import { buildWeb } from './build-web.mjs';
import { serveStatic } from './serve-web.mjs';

const dir = await buildWeb();
const port = Number(process.env.PORT ?? 8086);
const { url } = await serveStatic(dir, port);
console.log(`Strata web demo (offline: every asset is served from here): ${url}`);
console.log('Ctrl-C to stop.');
