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

fs.mkdirSync(rel('build'), { recursive: true });
if (stale('build/strata-shim', ['backend-native/stage'])) {
  execFileSync(
    'cc',
    [
      '-O2',
      '-static',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-o',
      rel('build/strata-shim'),
      rel('backend-native/stage/strata-shim.c'),
    ],
    { stdio: 'inherit' },
  );
  console.log('built build/strata-shim');
}

if (stale('dist/strata.mjs', ['cli/src', 'shared/src', 'backend-native/src', 'images/busybox'])) {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [rel('cli/src/entry.ts')],
    outfile: rel('dist/strata.mjs'),
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
  console.log('built dist/strata.mjs');
}
