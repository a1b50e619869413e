// Imports the repository's TypeScript from a plain Node script (the image builders run before any
// build step): esbuild bundles `source` (export lines, paths relative to the repository), the bundle
// is written next to the repository so that its bare imports resolve from node_modules, imported,
// and removed.
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export async function importTs(source) {
  const esbuild = await import('esbuild');
  const bundle = await esbuild.build({
    stdin: { contents: source, resolveDir: repo, loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    write: false,
    logLevel: 'warning',
  });
  const file = join(repo, `.import-ts.${process.pid}.${Date.now()}.mjs`);
  await writeFile(file, bundle.outputFiles[0].text);
  try {
    return await import(pathToFileURL(file).href);
  } finally {
    await rm(file, { force: true });
  }
}
