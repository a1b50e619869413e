// Builds the offline web demo (web/) into dist/web with vite, then copies in what the app fetches at
// run time: the guest's saved machine from .cache/guest and v86's wasm. Everything the page needs is
// then under dist/web, so any static server (or scripts/start.mjs) serves it with no other origin.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const WEB_OUT = path.join(root, 'dist', 'web');
const guestDir = process.env.STRATA_GUEST_CACHE
  ? path.resolve(process.env.STRATA_GUEST_CACHE)
  : path.join(root, '.cache', 'guest');

/** Files the page fetches, relative to dist/web, and where they come from. */
export function runtimeAssets() {
  return [
    ['guest/bios.bin', path.join(guestDir, 'bios.bin')],
    // The web snapshot: the guest's, with container c1 already running (images/guest/web-snapshot.mjs).
    ['guest/state.bin.zst', path.join(guestDir, 'web', 'state.bin.zst')],
    ['guest/state.json', path.join(guestDir, 'web', 'state.json')],
    ['v86/v86.wasm', path.join(root, 'node_modules', 'v86', 'build', 'v86.wasm')],
  ];
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** True when `outDir` is older than any source it is built from. */
export function webStale(outDir = WEB_OUT) {
  const stamp = path.join(outDir, 'index.html');
  if (!fs.existsSync(stamp)) return true;
  const built = fs.statSync(stamp).mtimeMs;
  const sources = [
    newestMtime(path.join(root, 'web')),
    newestMtime(path.join(root, 'shared', 'src')),
    newestMtime(path.join(root, 'backend-emu', 'src')),
    fs.statSync(path.join(root, 'vite.config.ts')).mtimeMs,
    ...runtimeAssets().map(([, from]) => (fs.existsSync(from) ? fs.statSync(from).mtimeMs : Infinity)),
  ];
  return sources.some((t) => t > built);
}

/**
 * Builds into `outDir` (default dist/web) when stale. The tests pass a directory of their own: the
 * CLI build (scripts/build.mjs) empties the whole of dist/ when it rebuilds, which other test runs
 * trigger at any time.
 */
export async function buildWeb({ force = false, quiet = false, outDir = WEB_OUT } = {}) {
  // Makes (or finds up to date, by its inputs' hashes) the web snapshot from the guest's.
  if (fs.existsSync(path.join(guestDir, 'state.bin.gz'))) {
    execFileSync(process.execPath, [path.join(root, 'images', 'guest', 'web-snapshot.mjs')], {
      stdio: ['ignore', 'ignore', quiet ? 'pipe' : 'inherit'],
    });
  }
  const missing = runtimeAssets().filter(([, from]) => !fs.existsSync(from));
  if (missing.length > 0) {
    throw new Error(
      `web: guest image missing (${missing.map(([, f]) => f).join(', ')}); build it with: sudo bash images/guest/build.sh`,
    );
  }
  if (!force && !webStale(outDir)) return outDir;
  const { build } = await import('vite');
  // root=web overrides the config file's root ('.', which the test section relies on).
  await build({
    configFile: path.join(root, 'vite.config.ts'),
    root: path.join(root, 'web'),
    logLevel: quiet ? 'error' : 'info',
    build: { outDir, emptyOutDir: true },
  });
  for (const [rel, from] of runtimeAssets()) {
    const to = path.join(outDir, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
  }
  // index.html last-modified is the staleness stamp: touch it after the copies.
  const now = new Date();
  fs.utimesSync(path.join(outDir, 'index.html'), now, now);
  return outDir;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildWeb({ force: process.argv.includes('--force') });
  console.log(`web: built ${path.relative(process.cwd(), WEB_OUT) || '.'}`);
}
