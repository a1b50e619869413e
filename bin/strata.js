#!/usr/bin/env node
// The strata CLI entry point: runs the bundle that `npm run build` makes from cli/src.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/strata.mjs', import.meta.url);
if (!existsSync(bundle)) {
  process.stderr.write(
    "strata: not built yet: run 'npm run setup' (or 'npm run build') in the strata checkout\n",
  );
  process.exit(125);
}
const { cli } = await import(bundle.href);
await cli(process.argv.slice(2));
