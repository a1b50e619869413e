#!/usr/bin/env node
// Cold-boots the guest built by build.sh in v86, waits for the agent's ready marker, prepares the emu
// store (EmuSession's PREPARE_SCRIPT) and applies the embedded busybox image's layer in it (built on
// the host exactly as images/busybox/build.ts does, applied as EmuSnapshotter.apply would), drops the
// page cache and saves the machine state to .cache/guest/state.bin.gz, plus state.json: how the
// machine was configured (a restore must use the same memory size and devices) and the baked layer's
// diff ID, which EmuSnapshotter matches before taking it over instead of unpacking the tar.
// Usage: node images/guest/snapshot.mjs [--memory-mib N] | --check
import { readFile, writeFile, rename, mkdtemp, rm } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { V86 } from 'v86';
import { importTs } from './import-ts.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const cache = process.env.STRATA_GUEST_CACHE ?? resolve(here, '../../.cache/guest');
const memArg = process.argv.indexOf('--memory-mib');
const memoryMiB = memArg > 0 ? Number(process.argv[memArg + 1]) : 128;
// 12 s on a quiet machine, 45 s seen with the 2 cores shared by several test runs.
const BOOT_TIMEOUT_MS = 300_000;

// The fast command line (shared/notes: crypto self-tests and the blk tracer cost about 11 s).
// init_on_free zeroes freed pages, so that the saved memory compresses well.
const cmdline = [
  'console=ttyS0,115200',
  'tsc=reliable',
  'mitigations=off',
  'random.trust_cpu=on',
  'quiet',
  'loglevel=3',
  'cryptomgr.notests=1',
  'initcall_blacklist=init_blk_tracer,isapnp_init',
  'init_on_free=1',
].join(' ');

const READY = '@@STRATA-READY@@';

// The TypeScript that makes the layer and the guest scripts, bundled on the fly (import-ts.mjs).
function loadLib() {
  return importTs(
    [
      "export { makeRootfs, tarRootfs, BUSYBOX_BINARY } from './images/busybox/build.ts';",
      "export { bakedLayerScript, bakedScriptHash, BAKED_TAR, busyboxSubstitute } from './backend-emu/src/emu-snapshotter.ts';",
      "export { PREPARE_SCRIPT, sha256Hex } from './backend-emu/src/emu-session.ts';",
      "export { shortLinkName } from './shared/src/overlay2.ts';",
      "export { machineOptions } from './backend-emu/src/machine-options.ts';",
    ].join('\n'),
  );
}

/** The busybox image's layer tar, byte for byte what images/busybox/build.ts stores. */
async function busyboxLayer(lib) {
  const work = await mkdtemp(join(tmpdir(), 'strata-snapshot-'));
  try {
    const mtime = Math.floor(statSync(lib.BUSYBOX_BINARY).mtimeMs / 1000);
    lib.makeRootfs(join(work, 'rootfs'));
    lib.tarRootfs(join(work, 'rootfs'), join(work, 'layer.tar'), mtime);
    return await readFile(join(work, 'layer.tar'));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function buffer(path) {
  const b = await readFile(path);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

function log(msg) {
  process.stderr.write(`snapshot: ${msg}\n`);
}

/** What the saved machine's store is made with: state.json records it, a restore checks it. */
async function storeKey(lib) {
  const tar = await busyboxLayer(lib);
  const diffId = `sha256:${lib.sha256Hex(tar)}`;
  const sub = lib.busyboxSubstitute(lib.BUSYBOX_BINARY);
  return { tar, diffId, prepared: lib.sha256Hex(lib.PREPARE_SCRIPT), script: lib.bakedScriptHash(sub), sub };
}

// --check: exit 0 when state.json was made with the current preparation, busybox layer and its
// unpack script (build.sh's cache key: a change to them retakes the snapshot), else 1.
if (process.argv.includes('--check')) {
  let saved = null;
  try {
    saved = JSON.parse(await readFile(join(cache, 'state.json'), 'utf8'));
  } catch {
    process.exit(1);
  }
  const k = await storeKey(await loadLib());
  const b = saved.baked?.[0];
  const current = saved.prepared === k.prepared && b?.diffId === k.diffId && b?.script === k.script;
  if (!current) log('the saved store was made with other preparation or busybox layer scripts');
  process.exit(current ? 0 : 1);
}

// The TypeScript it needs (the machine's options, the store's layer): loaded before the boot's clock.
const lib = await loadLib();
const t0 = performance.now();
const emulator = new V86({
  ...lib.machineOptions({
    wasmPath: fileURLToPath(import.meta.resolve('v86/build/v86.wasm')),
    bios: await buffer(join(cache, 'bios.bin')),
    memoryBytes: memoryMiB * 1024 * 1024,
    autostart: true,
  }),
  bzimage: { buffer: await buffer(join(cache, 'vmlinuz')) },
  initrd: { buffer: await buffer(join(cache, 'initrd.gz')) },
  cmdline,
});

let out = '';
let scanFrom = 0;
const waiters = [];
emulator.add_listener('serial0-output-byte', (byte) => {
  out += String.fromCharCode(byte);
  if (process.env.STRATA_GUEST_DEBUG) process.stderr.write(String.fromCharCode(byte));
  for (const w of [...waiters]) {
    const i = out.indexOf(w.text, Math.max(scanFrom, w.from));
    if (i >= 0) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(i);
    }
  }
  if (waiters.length === 0) scanFrom = Math.max(0, out.length - 64);
});

function waitFor(text, timeoutMs) {
  return new Promise((resolvePromise, reject) => {
    const w = { text, from: 0, resolve: resolvePromise };
    waiters.push(w);
    setTimeout(() => {
      if (waiters.includes(w)) {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`no '${text}' on the serial line within ${timeoutMs} ms; output so far:\n${out}`));
      }
    }, timeoutMs).unref();
  });
}

try {
  await waitFor(READY, BOOT_TIMEOUT_MS);
  const bootMs = performance.now() - t0;
  const kernel = out
    .slice(out.indexOf(READY) + READY.length)
    .trim()
    .split(/\s/)[0];
  log(`guest ready after ${(bootMs / 1000).toFixed(1)} s (kernel ${kernel})`);

  // The emu store, prepared, with the busybox layer in it (a long script: both through the 9p share).
  const key = await storeKey(lib);
  const { tar, diffId, sub, prepared } = key;
  const baked = { diffId, dir: diffId.slice(7), link: lib.shortLinkName(), script: key.script };
  const bakeScript = ['set -e', lib.PREPARE_SCRIPT, lib.bakedLayerScript(baked.dir, baked.link, sub)].join(
    '\n',
  );
  await emulator.create_file(lib.BAKED_TAR.replace('/mnt/host/', ''), new Uint8Array(tar));
  await emulator.create_file('baked.sh', new TextEncoder().encode(bakeScript));
  const tBake = performance.now();
  const at = out.length;
  emulator.serial0_send('1 180000 @baked.sh\n');
  await waitFor('@@STRATA-END 1@@', 200_000);
  const code = /@@STRATA-BEGIN 1@@\r?\n(\d+)/.exec(out.slice(at));
  if (!code || code[1] !== '0') throw new Error(`baking the busybox layer failed:\n${out.slice(at)}`);
  log(`busybox layer ${diffId.slice(7, 19)} applied in ${Math.round(performance.now() - tBake)} ms`);

  // One agent request (see images/guest/agent): drop caches so the state holds less memory.
  const script = `rm -f /mnt/host/baked.sh ${lib.BAKED_TAR}; sync; echo 3 > /proc/sys/vm/drop_caches`;
  const payload = [...Buffer.from(script)]
    .map((b) =>
      /[A-Za-z0-9_./-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `\\x${b.toString(16).padStart(2, '0')}`,
    )
    .join('');
  emulator.serial0_send(`2 10000 ${payload}\n`);
  await waitFor('@@STRATA-END 2@@', 15_000);
  // Let the agent print its frame and get back into read(2) before the machine is frozen.
  await new Promise((r) => setTimeout(r, 200));

  await emulator.stop();
  const t1 = performance.now();
  const state = await emulator.save_state();
  const t2 = performance.now();
  // Debian's gzip -9 rather than Node's zlib: 11.6 MB here against 12.0 MB at level 9 for the same state.
  const gz = execFileSync('gzip', ['-9', '-n', '-c'], { input: new Uint8Array(state), maxBuffer: 1 << 30 });
  const t3 = performance.now();
  await writeFile(join(cache, 'state.bin.gz.tmp'), gz);
  // The uncompressed copy a restore keeps (backend-emu guest.ts) is of the previous snapshot.
  await rm(join(cache, 'state.bin'), { force: true });
  await rename(join(cache, 'state.bin.gz.tmp'), join(cache, 'state.bin.gz'));
  const stamp = (await readFile(join(cache, 'stamp'), 'utf8')).trim();
  await writeFile(
    join(cache, 'state.json'),
    JSON.stringify(
      {
        memoryMiB,
        cmdline,
        kernel,
        stamp,
        bootMs: Math.round(bootMs),
        prepared,
        baked: [baked],
      },
      null,
      2,
    ) + '\n',
  );
  const mb = (n) => (n / 1024 / 1024).toFixed(1);
  log(
    `saved in ${Math.round(t2 - t1)} ms: ${mb(state.byteLength)} MiB raw, ${mb(gz.byteLength)} MiB gzipped ` +
      `(gzip ${Math.round(t3 - t2)} ms) -> ${join(cache, 'state.bin.gz')}`,
  );
  console.log(
    JSON.stringify({
      bootMs: Math.round(bootMs),
      stateBytes: state.byteLength,
      gzBytes: gz.byteLength,
      kernel,
    }),
  );
} finally {
  await emulator.stop();
  await emulator.destroy();
}
