#!/usr/bin/env node
// The web demo's saved machine: the guest snapshot of snapshot.mjs (.cache/guest/state.bin.gz),
// restored, with the web demo's container c1 built and running (web/src/guest-scripts.ts's
// startContainerScript), saved again to .cache/guest/web/state.bin.zst and state.json. The page then
// restores straight into a running container: c1's start is about 25 busybox fork+execs in the
// emulated CPU, seconds the page would otherwise spend after the guest is up. It also gives the machine
// a second UART (ttyS1) with an interactive shell in c1 on it, already waiting for input: the web
// terminal's keystrokes reach c1 with no fork or exec (web/src/guest-scripts.ts's ttyShellScript).
// Cached by its inputs' hashes (the guest snapshot, the BIOS, v86, this file and c1's start script):
// when they match, it does nothing. scripts/build-web.mjs runs it before copying the page's assets.
// Usage: node images/guest/web-snapshot.mjs [--force]
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
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
      "export { startContainerScript, START_FILE, ttyShellScript, TTY_SHELL_FILE, TTY_DEVICE } from './web/src/guest-scripts.ts';",
      "export { encodePayload, requestLine, FrameParser, shellQuote } from './backend-emu/src/protocol.ts';",
      "export { machineOptions } from './backend-emu/src/machine-options.ts';",
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
    // The terminal's line: the kernel probes the new UART again (it booted without one at 0x2F8), and
    // busybox init, told to reread its inittab, runs the shell in c1 on it (and again when it ends).
    `chmod +x /mnt/host/${AUTOCONFIG} && /mnt/host/${AUTOCONFIG} /dev/${lib.TTY_DEVICE} || exit 1`,
    `printf '%s\\n' ${lib.shellQuote(lib.ttyShellScript())} > ${lib.TTY_SHELL_FILE}`,
    `grep -q '^${lib.TTY_DEVICE}:' /etc/inittab || echo '${lib.TTY_DEVICE}::respawn:/bin/sh ${lib.TTY_SHELL_FILE}' >> /etc/inittab`,
    'kill -HUP 1',
  ].join('\n');
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/** The ttyS1 probe (tty-autoconfig.c), built for i386 with the guest's cross compiler (build.sh). */
const AUTOCONFIG = 'tty-autoconfig';
const AUTOCONFIG_SRC = join(here, 'tty-autoconfig.c');
function buildAutoconfig() {
  const dir = mkdtempSync(join(tmpdir(), 'strata-web-snapshot-'));
  try {
    const exe = join(dir, AUTOCONFIG);
    const args = ['-Os', '-static', '-s', '-Wall', '-Werror', '-o', exe, AUTOCONFIG_SRC];
    try {
      execFileSync('i686-linux-gnu-gcc', args);
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
      throw new Error(
        'web-snapshot: i686-linux-gnu-gcc not found (Debian gcc-i686-linux-gnu and ' +
          'libc6-dev-i386-cross, which images/guest/build.sh installs)',
      );
    }
    return readFileSync(exe);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function inputsHash(lib) {
  const v86 = JSON.parse(await readFile(join(repo, 'node_modules/v86/package.json'), 'utf8'));
  const parts = await Promise.all(
    ['state.bin.gz', 'state.json', 'bios.bin'].map((f) => readFile(join(cache, f))),
  );
  return sha256(
    [
      ...parts.map(sha256),
      sha256(await readFile(fileURLToPath(import.meta.url))),
      sha256(await readFile(AUTOCONFIG_SRC)),
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

/**
 * v86 with the second UART, resumed from the guest snapshot. Not backend-emu's startEmulator: that
 * machine has one serial port, and v86's restore_state() hands the second UART the state's slot for
 * it, which a machine saved without one lacks (null: a TypeError): that one restore leaves the
 * new UART in its power-on state instead. The web snapshot then holds both, as the page restores it.
 */
async function startWithTty(lib, bios, memoryBytes, state) {
  const { V86 } = await import('v86');
  const emulator = new V86(
    lib.machineOptions({
      wasmPath: createRequire(import.meta.url).resolve('v86/build/v86.wasm'),
      bios,
      memoryBytes,
      autostart: false,
      uart1: true,
    }),
  );
  await new Promise((r) => emulator.add_listener('emulator-loaded', r));
  const uart1 = emulator.v86.cpu.devices.uart1;
  const setState = uart1.set_state.bind(uart1);
  uart1.set_state = (s) => {
    if (s !== undefined && s !== null) setState(s);
  };
  await emulator.restore_state(state);
  await emulator.run();
  return emulator;
}

/** Restores the guest snapshot, starts c1 and the terminal's shell in it, saves the machine. */
async function build(lib, inputs) {
  const meta = JSON.parse(await readFile(join(cache, 'state.json'), 'utf8'));
  const t0 = performance.now();
  const autoconfig = buildAutoconfig();
  const bios = await readFile(join(cache, 'bios.bin'));
  const state = gunzipSync(await readFile(join(cache, 'state.bin.gz')));
  const emu = await startWithTty(
    lib,
    bios.buffer.slice(bios.byteOffset, bios.byteOffset + bios.byteLength),
    meta.memoryMiB * 1024 * 1024,
    state.buffer.slice(state.byteOffset, state.byteOffset + state.byteLength),
  );
  try {
    const frames = new Map();
    const waiting = new Map();
    const parser = new lib.FrameParser((e) => {
      if (e.kind !== 'frame' && e.kind !== 'malformed') return;
      const w = waiting.get(e.id);
      if (w) w(e);
      else frames.set(e.id, e);
    });
    emu.add_listener('serial0-output-byte', (b) => parser.push(b));
    let tty = '';
    emu.add_listener('serial1-output-byte', (b) => (tty += String.fromCharCode(b)));
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
        emu.serial0_send(lib.requestLine(id, timeoutMs, payload));
      });
    const removeShared = (name) => {
      const fs = emu.fs9p;
      const found = fs.SearchPath(name);
      if (found.id === -1) return;
      fs.Unlink(found.parentid, name);
      return fs.DeleteData(found.id);
    };
    log(`guest restored in ${Math.round(performance.now() - t0)} ms; starting c1`);
    const t1 = performance.now();
    // Long: it goes through the 9p share, as the page's requests over 2 KB do.
    await emu.create_file('web-snapshot.sh', new TextEncoder().encode(prepareScript(lib)));
    await emu.create_file(AUTOCONFIG, new Uint8Array(autoconfig));
    const r = await run(1, '@web-snapshot.sh', START_TIMEOUT_MS);
    const text = (b) => new TextDecoder().decode(b);
    if (r.kind !== 'frame' || r.exitCode !== 0) {
      throw new Error(
        `starting c1 in the guest failed (${r.kind === 'frame' ? `exit ${r.exitCode}` : r.reason}):\n` +
          (r.kind === 'frame' ? text(r.stdout) + text(r.stderr) : parser.console),
      );
    }
    await removeShared('web-snapshot.sh');
    await removeShared(AUTOCONFIG);
    // A check that c1 runs, by the same path the page's lessons use (its pid file, nsenter).
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
    // And the terminal's: once its shell prompts (ash's banner, `c1:/# `, then ESC[6n: ash asks the
    // terminal where its cursor is), a line typed on ttyS1 runs in c1 and the shell prompts again.
    const prompted = /\nc1:[^\n]*# (\x1b\[6n)?$/;
    const ttyWait = async (what) => {
      for (let waited = 0; !prompted.test(tty); waited += 50) {
        if (waited > 120_000) {
          throw new Error(`the shell on ttyS1 in c1: no ${what}; it printed: ${JSON.stringify(tty)}`);
        }
        await new Promise((r2) => setTimeout(r2, 50));
      }
    };
    await ttyWait('prompt');
    tty = '';
    emu.serial_send_bytes(1, new TextEncoder().encode('hostname\r'));
    await ttyWait('answer to `hostname`');
    if (!/\r\nc1\r\n/.test(tty))
      throw new Error(`hostname on ttyS1 did not print c1: ${JSON.stringify(tty)}`);
    log(`c1 and its terminal started in ${Math.round(performance.now() - t1)} ms`);
    // Less memory in the saved state (the page cache; c1's files are on tmpfs and stay).
    const drop = await run(3, lib.encodePayload('sync; echo 3 > /proc/sys/vm/drop_caches'), 60_000);
    if (drop.kind !== 'frame' || drop.exitCode !== 0) throw new Error('dropping the page cache failed');
    // Let the agent print its frame and get back into read(2) before the machine is frozen.
    await new Promise((r2) => setTimeout(r2, 200));
    await emu.stop();
    const raw = await emu.save_state();
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
      // tty: the page restores it with the second UART and attaches its terminal there.
      web: { inputs, container: 'c1', tty: lib.TTY_DEVICE, startMs: Math.round(performance.now() - t1) },
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
