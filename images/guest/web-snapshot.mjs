#!/usr/bin/env node
// The web demo's saved machine: the guest snapshot of snapshot.mjs (.cache/guest/state.bin.gz),
// restored, with the web demo's container c1 built and running (web/src/guest-scripts.ts's
// startContainerScript), saved again to .cache/guest/web/state.bin.zst and state.json. The page then
// restores straight into a running container: c1's start is about 25 busybox fork+execs in the
// emulated CPU, seconds the page would otherwise spend after the guest is up.
// Cached by its inputs' hashes (the guest snapshot, the BIOS, v86, this file and c1's start script):
// when they match, it does nothing. scripts/build-web.mjs runs it before copying the page's assets.
// Usage: node images/guest/web-snapshot.mjs [--force]
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { importTs } from './import-ts.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const cache = process.env.STRATA_GUEST_CACHE
  ? resolve(process.env.STRATA_GUEST_CACHE)
  : join(repo, '.cache/guest');
const out = join(cache, 'web');
// c1's start is 15 to 20 s at load 20 under Node; a wedged guest must still end the build.
const START_TIMEOUT_MS = 240_000;

function log(msg) {
  process.stderr.write(`web-snapshot: ${msg}\n`);
}

// The TypeScript it needs: c1's start script, the agent protocol, v86's Node host.
function loadLib() {
  return importTs(
    [
      "export { startContainerScript, START_FILE } from './web/src/guest-scripts.ts';",
      "export { encodePayload, requestLine, FrameParser, shellQuote } from './backend-emu/src/protocol.ts';",
      "export { startEmulator } from './backend-emu/src/v86-host.ts';",
    ].join('\n'),
  );
}

/** What the page's first requests would otherwise do: detach the emu store, start c1. */
function prepareScript(lib) {
  // The saved machine holds the emu backend's store, a tmpfs on /var/lib/strata (docs/emulator.md):
  // the demo keeps its own layout on the root tmpfs (c1's start hard-links /bin/busybox).
  return [
    'umount -l /var/lib/strata 2>/dev/null',
    // c1's start stays in the guest: the page's requests run it from there if c1 is gone.
    `mkdir -p /run/strata && printf '%s\\n' ${lib.shellQuote(lib.startContainerScript())} > ${lib.START_FILE}`,
    `. ${lib.START_FILE} || exit 1`,
    // Less memory in the saved state (the page cache; c1's files are on tmpfs and stay).
    'sync; echo 3 > /proc/sys/vm/drop_caches',
  ].join('\n');
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

async function inputsHash(lib) {
  const v86 = JSON.parse(await readFile(join(repo, 'node_modules/v86/package.json'), 'utf8'));
  const parts = await Promise.all(
    ['state.bin.gz', 'state.json', 'bios.bin'].map((f) => readFile(join(cache, f))),
  );
  return sha256(
    [
      ...parts.map(sha256),
      sha256(await readFile(fileURLToPath(import.meta.url))),
      v86.version,
      prepareScript(lib),
    ].join('\n'),
  );
}

async function upToDate(inputs) {
  try {
    const meta = JSON.parse(await readFile(join(out, 'state.json'), 'utf8'));
    return meta.web?.inputs === inputs && existsSync(join(out, 'state.bin.zst'));
  } catch {
    return false;
  }
}

/** Restores the guest snapshot, starts c1, saves the machine. */
async function build(lib, inputs) {
  const meta = JSON.parse(await readFile(join(cache, 'state.json'), 'utf8'));
  const t0 = performance.now();
  const bios = await readFile(join(cache, 'bios.bin'));
  const state = gunzipSync(await readFile(join(cache, 'state.bin.gz')));
  const emu = await lib.startEmulator({
    bios: bios.buffer.slice(bios.byteOffset, bios.byteOffset + bios.byteLength),
    memoryBytes: meta.memoryMiB * 1024 * 1024,
    initialState: Promise.resolve(state.buffer.slice(state.byteOffset, state.byteOffset + state.byteLength)),
  });
  try {
    const frames = new Map();
    const waiting = new Map();
    const parser = new lib.FrameParser((e) => {
      if (e.kind !== 'frame' && e.kind !== 'malformed') return;
      const w = waiting.get(e.id);
      if (w) w(e);
      else frames.set(e.id, e);
    });
    emu.onSerialByte((b) => parser.push(b));
    const run = (id, payload, timeoutMs) =>
      new Promise((resolveRun, reject) => {
        const timer = setTimeout(
          () =>
            reject(new Error(`no answer from the guest within ${timeoutMs} ms; console:\n${parser.console}`)),
          timeoutMs,
        );
        waiting.set(id, (e) => {
          clearTimeout(timer);
          resolveRun(e);
        });
        emu.sendSerial(lib.requestLine(id, timeoutMs, payload));
      });
    log(`guest restored in ${Math.round(performance.now() - t0)} ms; starting c1`);
    const t1 = performance.now();
    // Long: it goes through the 9p share, as the page's requests over 2 KB do.
    await emu.writeFile('web-snapshot.sh', new TextEncoder().encode(prepareScript(lib)));
    const r = await run(1, '@web-snapshot.sh', START_TIMEOUT_MS);
    const text = (b) => new TextDecoder().decode(b);
    if (r.kind !== 'frame' || r.exitCode !== 0) {
      throw new Error(
        `starting c1 in the guest failed (${r.kind === 'frame' ? `exit ${r.exitCode}` : r.reason}):\n` +
          (r.kind === 'frame' ? text(r.stdout) + text(r.stderr) : parser.console),
      );
    }
    await emu.removeFile('web-snapshot.sh');
    // A check that c1 runs, by the same path the page uses (its pid file, nsenter).
    const check = await run(
      2,
      lib.encodePayload(
        `[ -s ${lib.START_FILE} ] && read -r P < /run/strata/c1.pid && nsenter -t $P -u hostname`,
      ),
      60_000,
    );
    if (check.kind !== 'frame' || text(check.stdout).trim() !== 'c1') {
      throw new Error(
        `c1 is not running after its start: ${check.kind === 'frame' ? text(check.stderr) : check.reason}`,
      );
    }
    log(`c1 started in ${Math.round(performance.now() - t1)} ms`);
    // Let the agent print its frame and get back into read(2) before the machine is frozen.
    await new Promise((r2) => setTimeout(r2, 200));
    await emu.pause();
    const raw = await emu.saveState();
    // zstd, not gzip: v86's restore_state() takes a zstd state as is and decompresses it in its own
    // wasm, about 10 times faster than the browser's DecompressionStream gunzips (1 s for this state
    // in chromium at load 3); and -19 is smaller (8.9 MB against gzip -9's 10.1 MB).
    const zst = execFileSync('zstd', ['-19', '-q', '-c'], { input: new Uint8Array(raw), maxBuffer: 1 << 30 });
    await mkdir(out, { recursive: true });
    // Per-process temporary names: two builds at once (a test and a bench) each rename a whole file.
    const tmp = `.tmp.${process.pid}`;
    await writeFile(join(out, `state.bin.zst${tmp}`), zst);
    await rename(join(out, `state.bin.zst${tmp}`), join(out, 'state.bin.zst'));
    const webMeta = {
      ...meta,
      web: { inputs, container: 'c1', startMs: Math.round(performance.now() - t1) },
    };
    await writeFile(join(out, `state.json${tmp}`), JSON.stringify(webMeta, null, 2) + '\n');
    await rename(join(out, `state.json${tmp}`), join(out, 'state.json'));
    const mb = (n) => (n / 1024 / 1024).toFixed(1);
    log(
      `saved: ${mb(raw.byteLength)} MiB raw, ${mb(zst.byteLength)} MiB zstd -19 -> ${join(out, 'state.bin.zst')}`,
    );
  } finally {
    await emu.destroy();
  }
}

for (const f of ['state.bin.gz', 'state.json', 'bios.bin']) {
  if (!existsSync(join(cache, f))) {
    throw new Error(
      `web-snapshot: ${join(cache, f)} missing; build the guest first: sudo bash images/guest/build.sh`,
    );
  }
}
const lib = await loadLib();
const inputs = await inputsHash(lib);
if (!process.argv.includes('--force') && (await upToDate(inputs))) {
  log('up to date');
} else {
  await build(lib, inputs);
}
