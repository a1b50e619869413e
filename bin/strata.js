#!/usr/bin/env node
// The strata CLI entry point: runs the bundle that `npm run build` makes from cli/src.
// CommonJS on purpose (bin/package.json): Node's ESM loader costs ~15 ms of CPU at each start,
// which a `run` through the store's warm daemon (cli/src/client.ts, also CommonJS) does not pay;
// the bundle (ESM) is imported only when the command runs in this process.
/* eslint-disable @typescript-eslint/no-require-imports */
'use strict';
const { existsSync, readFileSync } = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const dist = path.join(__dirname, '..', 'dist');
const bundle = path.join(dist, 'strata.mjs');
if (!existsSync(bundle)) {
  process.stderr.write(
    "strata: not built yet: run 'npm run setup' (or 'npm run build') in the strata checkout\n",
  );
  process.exit(125);
}

async function main(argv) {
  // A `run` goes to the store's warm daemon when one serves it; null: it runs here.
  if (argv.includes('run') && process.env.STRATA_DAEMON !== '0') {
    const build = /^export \* from '\.\/(v[\d-]+)\//.exec(readFileSync(bundle, 'utf8'))?.[1];
    const client = build && path.join(dist, build, 'client.cjs');
    if (client && existsSync(client)) {
      const code = await require(client).runViaDaemon(argv, build);
      if (code !== null) return void process.stdout.write('', () => process.exit(code));
    }
  }
  // A pull as root: one CommonJS file with only what it needs (cli/src/pull-direct.ts); null: the bundle.
  if (argv.includes('pull')) {
    const build = /^export \* from '\.\/(v[\d-]+)\//.exec(readFileSync(bundle, 'utf8'))?.[1];
    const direct = build && path.join(dist, build, 'pull.cjs');
    if (direct && existsSync(direct)) {
      const code = await require(direct).pullDirect(argv);
      if (code !== null) return void process.stdout.write('', () => process.exit(code));
    }
  }
  const { cli } = await import(pathToFileURL(bundle).href);
  await cli(argv);
}

void main(process.argv.slice(2));
