// The load target: a keep-alive HTTP server with a tiny and a 1 MiB response. Run inside the
// container's network namespace (nsenter --net=SandboxKey), so Node need not be in the image.
import http from 'node:http';

const big = Buffer.alloc(1 << 20, 120);
const port = Number(process.argv[2] ?? 8080);
http
  .createServer((req, res) => {
    const body = req.url === '/big' ? big : 'ok\n';
    res.writeHead(200, { 'content-length': String(body.length) });
    res.end(body);
  })
  .listen(port, '0.0.0.0', () => process.stdout.write('ready\n'));
