// Builds what the CLI runs: the bundled CLI (dist/strata.mjs) and the shim (build/strata-shim, static:
// it starts just before pivot_root, so it must not load shared libraries afterwards).
// Skips work whose inputs have not changed since the last build.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const rel = (p) => path.join(root, p);

function newestMtime(dirs) {
  let newest = 0;
  const walk = (p) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
    else newest = Math.max(newest, st.mtimeMs);
  };
  for (const d of dirs) if (fs.existsSync(rel(d))) walk(rel(d));
  return newest;
}

function stale(output, inputs) {
  return !fs.existsSync(rel(output)) || fs.statSync(rel(output)).mtimeMs < newestMtime(inputs);
}

/** A static C stage, compiled under a temporary name and renamed: never a half-written binary. */
function compileStatic(sources, output, libs = []) {
  const tmp = rel(`${output}.${process.pid}`);
  const files = [sources].flat().map(rel);
  execFileSync('cc', ['-O2', '-static', '-Wall', '-Wextra', '-Werror', '-o', tmp, ...files, ...libs], {
    stdio: 'inherit',
  });
  fs.renameSync(tmp, rel(output));
  console.log(`built ${output}`);
}

fs.mkdirSync(rel('build'), { recursive: true });
const shimSources = [
  'backend-native/stage/strata-shim.c',
  'backend-native/stage/confine.c',
  'backend-native/stage/setup.c',
];
if (
  stale('build/strata-shim', [
    ...shimSources,
    'backend-native/stage/confine.h',
    'backend-native/stage/setup.h',
  ])
) {
  // Debian's libseccomp.a (libseccomp-dev): the seccomp profile is compiled in the shim.
  compileStatic(shimSources, 'build/strata-shim', ['-lseccomp']);
}
// Rootless mode's stage (docs/rootless.md): makes or joins the user namespace, static as the shim.
if (stale('build/strata-userns', ['backend-native/stage/strata-userns.c'])) {
  compileStatic('backend-native/stage/strata-userns.c', 'build/strata-userns');
}
// The scenario executor (docs/scenarios.md); images/guest/build.sh builds the same source for i386.
if (stale('build/strata-scenario', ['backend-native/stage/strata-scenario.c'])) {
  compileStatic('backend-native/stage/strata-scenario.c', 'build/strata-scenario');
}

if (
  stale('dist/strata.mjs', [
    'cli/src',
    'shared/src',
    'backend-native/src',
    'backend-emu/src',
    'images/busybox',
  ])
) {
  const esbuild = await import('esbuild');
  // Build into a fresh versioned directory, then switch dist/strata.mjs to it with one rename: a
  // test or command running meanwhile keeps loading a complete older build.
  const version = `v${Date.now()}-${process.pid}`;
  await esbuild.build({
    entryPoints: { strata: rel('cli/src/entry.ts') },
    outdir: rel(`dist/${version}`),
    outExtension: { '.js': '.mjs' },
    // Commands and backends are imported on demand: each becomes a chunk loaded only when used.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: ['koffi'],
    // Bundled CommonJS code may call require(): give it one.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: 'warning',
  });
  // The warm native daemon's thin client, which bin/strata.js tries first for a `run`: CommonJS
  // in one file, as bin/strata.js (Node's ESM loader costs ~15 ms of CPU at each start).
  await esbuild.build({
    entryPoints: [rel('cli/src/client.ts')],
    outfile: rel(`dist/${version}/client.cjs`),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
  });
  // `strata pull` as root without the bundle (cli/src/pull-direct.ts): CommonJS in one file too,
  // tried by bin/strata.js before the bundle for a pull.
  await esbuild.build({
    entryPoints: [rel('cli/src/pull-direct.ts')],
    outfile: rel(`dist/${version}/pull.cjs`),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['koffi'],
    logLevel: 'warning',
  });
  const tmp = rel(`dist/strata.mjs.${process.pid}`);
  fs.writeFileSync(tmp, `export * from './${version}/strata.mjs';\n`);
  fs.renameSync(tmp, rel('dist/strata.mjs'));
  // Older builds go once nothing can still be starting from them.
  for (const d of fs.readdirSync(rel('dist'))) {
    const p = rel(`dist/${d}`);
    if (d.startsWith('v') && d !== version && Date.now() - fs.statSync(p).mtimeMs > 10 * 60_000)
      fs.rmSync(p, { recursive: true, force: true });
  }
  console.log('built dist/strata.mjs');
}
