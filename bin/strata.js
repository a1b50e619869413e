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

/** dist/BUILD/FILE of the build the bundle re-exports (one CommonJS entry of a command), or null. */
function buildEntry(file) {
  const build = /^export \* from '\.\/(v[\d-]+)\//.exec(readFileSync(bundle, 'utf8'))?.[1];
  const entry = build && path.join(dist, build, file);
  return entry && existsSync(entry) ? { build, entry } : null;
}

async function main(argv) {
  // A `run` goes to the store's warm daemon when one serves it; null: it runs here.
  const client = argv.includes('run') && process.env.STRATA_DAEMON !== '0' ? buildEntry('client.cjs') : null;
  if (client) {
    const daemonClient = require(client.entry);
    const code = await daemonClient.runViaDaemon(argv, client.build);
    // Not creating process.stdout when the client never wrote to it (~0.15 ms).
    if (code !== null && !daemonClient.stdoutUsed()) process.exit(code);
    if (code !== null) return void process.stdout.write('', () => process.exit(code));
  }
  // A pull as root: one CommonJS file with only what it needs (cli/src/pull-direct.ts); null: the bundle.
  const pull = argv.includes('pull') ? buildEntry('pull.cjs') : null;
  if (pull) {
    const code = await require(pull.entry).pullDirect(argv);
    if (code !== null) return void process.stdout.write('', () => process.exit(code));
  }
  const { cli } = await import(pathToFileURL(bundle).href);
  await cli(argv);
}

void main(process.argv.slice(2));
