// bench/emu: the emulator backend, in one run. Snapshot restore to a container's first output (through
// the Engine, as `strata --backend emu run` does), a cold boot of the same guest, `run --rm busybox
// true` round trips inside one restored guest, 9p throughput both ways, the compressed snapshot size.
// Goals (issue 6): restore to first output < 1.0 s, a container run < 150 ms, snapshot < 12 MB.
// backend-emu is TypeScript: bundled with esbuild first (v86 stays external, resolved from
// node_modules). Writes RESULTS.md and results.json beside this file. BENCH_RUNS (default 5).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const runs = Number(process.env.BENCH_RUNS ?? 5);
const WARMUP_RUNS = 3;
// Inside node_modules so that the bundle resolves 'v86' (and its wasm) from the repository.
const tmp = fs.mkdtempSync(path.join(repo, 'node_modules', '.strata-bench-emu-'));
const entry = path.join(tmp, 'entry.ts');
const src = (p) => JSON.stringify(path.join(repo, p));
fs.writeFileSync(
  entry,
  [
    `export { EmuBackend, liveEmulators, guestImagePaths } from ${src('backend-emu/src/index.ts')};`,
    `export { startEmulator } from ${src('backend-emu/src/v86-host.ts')};`,
    `export { Engine } from ${src('shared/src/engine/engine.ts')};`,
    `export { Store } from ${src('shared/src/store/index.ts')};`,
    `export { buildBusyboxImage } from ${src('images/busybox/build.ts')};`,
    // The Engine's run options as the CLI defaults them (shared with the emu tests).
    `export { runOptions } from ${src('test/emu/engine-fixture.ts')};`,
  ].join('\n'),
);
await build({
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  platform: 'node',
  external: ['v86', 'koffi'],
  outfile: path.join(tmp, 'emu.mjs'),
  logLevel: 'warning',
});
const M = await import(path.join(tmp, 'emu.mjs'));
process.env.STRATA_GUEST_CACHE ??= path.join(repo, '.cache', 'guest');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (x) => Math.round(x);
const load = () => os.loadavg()[0].toFixed(1);

/** `run --rm` through the Engine: create, start attached, wait, remove. Times each phase. */
async function runRm(engine, args, t0 = performance.now()) {
  let firstOut = null;
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk) => {
    firstOut ??= performance.now();
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  };
  try {
    const rec = await engine.create(M.runOptions(args));
    const tCreated = performance.now();
    const { exit } = await engine.start(rec, { kind: 'attach', tty: false, stdin: false });
    const tStarted = performance.now();
    const st = await exit;
    const tExited = performance.now();
    await engine.remove(rec, { force: true, volumes: true });
    const tRemoved = performance.now();
    if (st.exitCode !== 0) throw new Error(`container exited ${st.exitCode}`);
    return {
      out,
      firstOutMs: firstOut === null ? null : firstOut - t0,
      createMs: tCreated - t0,
      startMs: tStarted - tCreated,
      exitMs: tExited - tStarted,
      removeMs: tRemoved - tExited,
      totalMs: tRemoved - t0,
    };
  } finally {
    process.stdout.write = write;
  }
}

const results = { date: new Date().toISOString(), runs, loadBefore: load() };
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-emu-'));
try {
  // 1. Snapshot size.
  const img = M.guestImagePaths();
  const meta = JSON.parse(fs.readFileSync(img.meta, 'utf8'));
  results.snapshotGzBytes = fs.statSync(img.state).size;
  console.log(
    `snapshot: ${(results.snapshotGzBytes / 1e6).toFixed(1)} MB gzipped (${meta.memoryMiB} MiB guest)`,
  );

  // 2. Restore to first container output, `runs` times, each in a fresh EmuBackend and store. The
  // timed path makes the guest requests `strata run busybox echo hello` makes, and no other: until
  // 2026-12-07 18:10 UTC it also sent a probe (`echo hi`, to time the first agent answer) before the
  // image, which `run` never sends (about 200 ms of a cold guest's time). The probe's variant is still
  // measured, interleaved with the timed one, as a row of its own (the first agent answer and the
  // total as the bench measured it before).
  const firsts = [];
  const probed = [];
  for (let i = 0; i < 2 * runs; i++) {
    const probe = i % 2 === 1;
    const root = fs.mkdtempSync(path.join(work, 'store-'));
    const backend = new M.EmuBackend();
    const engine = new M.Engine(new M.Store(root), backend);
    const t0 = performance.now();
    const guest = await backend.guest();
    const tRestored = performance.now();
    let tFirstAnswer = null;
    if (probe) {
      const first = await guest.run(['echo', 'hi']);
      tFirstAnswer = performance.now();
      if (first.stdout !== 'hi\n') throw new Error(`guest answered ${JSON.stringify(first)}`);
    }
    const tBeforeImage = performance.now();
    await M.buildBusyboxImage(engine.store, backend);
    const tImage = performance.now();
    const r = await runRm(engine, ['echo', 'hello'], tImage);
    if (r.out !== 'hello\n') throw new Error(`container printed ${JSON.stringify(r.out)}`);
    const row = {
      probe,
      restoreMs: guest.restoreMs,
      restoreAndPrepareMs: tRestored - t0,
      firstAgentAnswerMs: tFirstAnswer === null ? null : tFirstAnswer - t0,
      imageMs: tImage - tBeforeImage,
      containerFirstOutputMs: r.firstOutMs,
      toFirstContainerOutputMs: tImage - t0 + r.firstOutMs,
      load: load(),
    };
    (probe ? probed : firsts).push(row);
    console.log(
      `restore->first container output ${ms(row.toFirstContainerOutputMs)} ms${probe ? ' (with the probe request)' : ''}: ` +
        `restore ${ms(row.restoreMs)}, +prepare ${ms(row.restoreAndPrepareMs)}, ` +
        (probe ? `first agent answer at ${ms(row.firstAgentAnswerMs)}, ` : '') +
        `busybox image ${ms(row.imageMs)}, container create+start to output ${ms(row.containerFirstOutputMs)} (load ${row.load})`,
    );
    await backend.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
  const med = (rows, k) => median(rows.map((f) => f[k]));
  results.restore = {
    restoreMs: med(firsts, 'restoreMs'),
    restoreAndPrepareMs: med(firsts, 'restoreAndPrepareMs'),
    imageMs: med(firsts, 'imageMs'),
    containerFirstOutputMs: med(firsts, 'containerFirstOutputMs'),
    toFirstContainerOutputMs: med(firsts, 'toFirstContainerOutputMs'),
    samples: firsts,
  };
  results.restoreWithProbe = {
    firstAgentAnswerMs: med(probed, 'firstAgentAnswerMs'),
    toFirstContainerOutputMs: med(probed, 'toFirstContainerOutputMs'),
    samples: probed,
  };

  // 3. run --rm busybox true round trips, and 9p throughput, in one restored guest.
  {
    const root = fs.mkdtempSync(path.join(work, 'store-'));
    const backend = new M.EmuBackend();
    const engine = new M.Engine(new M.Store(root), backend);
    const guest = await backend.guest();
    await M.buildBusyboxImage(engine.store, backend);
    // Warm-up: v86's JIT compiles the guest's hot paths again after a restore; a round trip keeps
    // getting faster over the first few runs (2.3 s to 0.63 s over five at load 2-4).
    for (let i = 0; i < WARMUP_RUNS; i++) await runRm(engine, ['true']);
    // A snapshot's preparation and removal are carried by the next guest request (GuestMachine.defer):
    // a run's start carries the previous run's removal. Sent on their own before the first timed run
    // and after the last, so that the loop's total holds exactly `runs` runs' guest work.
    await guest.flush();
    const rows = [];
    const loopT0 = performance.now();
    const loopI0 = guest.instructions;
    for (let i = 0; i < runs; i++) {
      const i0 = guest.instructions;
      const r = await runRm(engine, ['true']);
      r.minstr = ((guest.instructions - i0) >>> 0) / 1e6;
      rows.push(r);
      console.log(
        `run --rm busybox true: ${ms(r.totalMs)} ms (create ${ms(r.createMs)}, start ${ms(r.startMs)}, ` +
          `exit ${ms(r.exitMs)}, rm ${ms(r.removeMs)}; ${r.minstr.toFixed(1)} M guest instructions; load ${load()})`,
      );
    }
    await guest.flush();
    const loopMs = (performance.now() - loopT0) / runs;
    const loopMinstr = ((guest.instructions - loopI0) >>> 0) / 1e6 / runs;
    console.log(
      `${runs} runs back to back, the last removal included: ${ms(loopMs)} ms and ${loopMinstr.toFixed(1)} M guest instructions per run`,
    );
    const m = (k) => median(rows.map((r) => r[k]));
    results.runRmTrue = {
      totalMs: m('totalMs'),
      createMs: m('createMs'),
      startMs: m('startMs'),
      exitMs: m('exitMs'),
      removeMs: m('removeMs'),
      bestMs: Math.min(...rows.map((r) => r.totalMs)),
      loopMs,
      loopMinstr,
    };
    // The agent's own round trip and one busybox fork+exec, for scale.
    const rt = [];
    const fork = [];
    const rtI = [];
    const forkI = [];
    for (let i = 0; i < 10; i++) {
      let t = performance.now();
      let i0 = guest.instructions;
      await guest.run('true');
      rt.push(performance.now() - t);
      rtI.push(((guest.instructions - i0) >>> 0) / 1e6);
      t = performance.now();
      i0 = guest.instructions;
      await guest.run('/bin/true');
      fork.push(performance.now() - t - rt[rt.length - 1]);
      forkI.push(((guest.instructions - i0) >>> 0) / 1e6 - rtI[rtI.length - 1]);
    }
    results.agentRoundTripMs = median(rt);
    results.forkExecMs = median(fork);
    results.agentRoundTripMinstr = median(rtI);
    results.forkExecMinstr = median(forkI);
    console.log(
      `agent round trip ${results.agentRoundTripMs.toFixed(1)} ms (${results.agentRoundTripMinstr.toFixed(2)} M instructions), ` +
        `one fork+exec ${results.forkExecMs.toFixed(1)} ms (${results.forkExecMinstr.toFixed(2)} M)`,
    );

    // 9p: 16 MiB each way. Host to guest: the host writes into v86's filesystem, the guest reads it
    // through 9p. Guest to host: the guest writes into the share, the host reads it back.
    const size = 16 * 1024 * 1024;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) data[i] = i & 255;
    const up = [];
    const down = [];
    for (let i = 0; i < 3; i++) {
      let t = performance.now();
      await guest.writeFile('bench/in.bin', data);
      const r = await guest.run('cat /mnt/host/bench/in.bin > /dev/null && wc -c < /mnt/host/bench/in.bin', {
        timeoutMs: 120_000,
      });
      up.push(performance.now() - t);
      if (Number(r.stdout) !== size) throw new Error(`guest read ${r.stdout} bytes`);
      await guest.removeFile('bench/in.bin');
      t = performance.now();
      await guest.run('dd if=/dev/zero of=/mnt/host/bench/out.bin bs=128k count=128 2>/dev/null', {
        timeoutMs: 120_000,
      });
      const back = await guest.readFile('bench/out.bin');
      down.push(performance.now() - t);
      if (back.length !== size) throw new Error(`host read ${back.length} bytes`);
      await guest.removeFile('bench/out.bin');
    }
    results.p9 = {
      bytes: size,
      hostToGuestMBps: size / 1e6 / (median(up) / 1000),
      guestToHostMBps: size / 1e6 / (median(down) / 1000),
    };
    console.log(
      `9p: host->guest ${results.p9.hostToGuestMBps.toFixed(1)} MB/s, guest->host ${results.p9.guestToHostMBps.toFixed(1)} MB/s`,
    );
    await backend.close();
  }

  // 4. The CLI: `strata --backend emu run --rm busybox true` against a warm per-store daemon (the
  // first command starts it, restores its guest and unpacks the image; not counted).
  {
    const root = fs.mkdtempSync(path.join(work, 'cli-'));
    const cli = (...args) =>
      execFileSync(
        process.execPath,
        [path.join(repo, 'bin', 'strata.js'), '--root', root, '--backend', 'emu', ...args],
        {
          encoding: 'utf8',
          timeout: 600_000,
        },
      );
    try {
      cli('run', '--rm', 'busybox', 'true');
      const times = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        cli('run', '--rm', 'busybox', 'true');
        times.push(performance.now() - t);
      }
      results.cliRunRmTrueMs = median(times);
      console.log(
        `strata --backend emu run --rm busybox true (warm daemon): ${ms(results.cliRunRmTrueMs)} ms`,
      );
    } finally {
      cli('emu-daemon', 'stop');
    }
  }

  // 5. Cold boot of the same kernel and initrd, to the agent's ready marker.
  {
    const cache = process.env.STRATA_GUEST_CACHE;
    const buf = (f) => {
      const b = fs.readFileSync(path.join(cache, f));
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    };
    const t0 = performance.now();
    let text = '';
    let readyAt = null;
    const emu = await M.startEmulator({
      bios: buf('bios.bin'),
      bzimage: buf('vmlinuz'),
      initrd: buf('initrd.gz'),
      cmdline: meta.cmdline,
      memoryBytes: meta.memoryMiB * 1024 * 1024,
    });
    const ready = new Promise((resolve) => {
      const off = emu.onSerialByte((b) => {
        text = (text + String.fromCharCode(b)).slice(-64);
        if (text.includes('@@STRATA-READY@@')) {
          readyAt = performance.now();
          off();
          resolve();
        }
      });
    });
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new Error('cold boot: no ready marker in 300 s')), 300_000).unref(),
    );
    await Promise.race([ready, timeout]);
    results.coldBootMs = readyAt - t0;
    console.log(`cold boot to agent ready: ${ms(results.coldBootMs)} ms`);
    await emu.destroy();
  }
  results.loadAfter = load();
  if (M.liveEmulators() !== 0) throw new Error(`${M.liveEmulators()} emulators left running`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
}

const r = results;
const goal = (ok) => (ok ? 'met' : 'not met');
const md = `# bench/emu (${r.date.slice(0, 10)}, 2 cores, ${r.runs} runs, medians; load ${r.loadBefore} before, ${r.loadAfter} after)

| what | measured | goal |
|---|---:|---|
| snapshot restore to first container output (\`run busybox echo hello\` via the Engine, fresh store; the guest requests \`run\` makes, no probe) | ${ms(r.restore.toFirstContainerOutputMs)} ms | < 1,000 ms: ${goal(r.restore.toFirstContainerOutputMs < 1000)} |
| of which: v86 restore (read the state, uncompressed beside the gzip after the first restore; restore_state) | ${ms(r.restore.restoreMs)} ms | |
| of which: restore + guest preparation (store tmpfs, cgroup; done in the snapshot when current) | ${ms(r.restore.restoreAndPrepareMs)} ms | |
| of which: busybox image into the guest (the layer tar from the host's build cache, hashed into the store; taking over the baked layer is carried by the next request) | ${ms(r.restore.imageMs)} ms | |
| of which: container create + start to its first output (one request: the take-over and both snapshots' preparation, then \`strata-confine run\`) | ${ms(r.restore.containerFirstOutputMs)} ms | |
| the same with a probe request (\`echo hi\`) before the image, as this bench timed it until 2026-12-07 18:10 UTC (\`run\` sends none; interleaved runs) | ${ms(r.restoreWithProbe.toFirstContainerOutputMs)} ms | |
| of which: the probe's answer (since the start) | ${ms(r.restoreWithProbe.firstAgentAnswerMs)} ms | |
| cold boot to agent ready | ${ms(r.coldBootMs)} ms | |
| \`run --rm busybox true\` round trip in the guest (create, start, exit, rm; after ${WARMUP_RUNS} warm-up runs) | ${ms(r.runRmTrue.totalMs)} ms | < 150 ms: ${goal(r.runRmTrue.totalMs < 150)} |
| of which: the best run | ${ms(r.runRmTrue.bestMs)} ms | |
| of which: create / start / exit / rm (the snapshots' preparation and removal are carried by the next request: a start carries the previous run's removal) | ${ms(r.runRmTrue.createMs)} / ${ms(r.runRmTrue.startMs)} / ${ms(r.runRmTrue.exitMs)} / ${ms(r.runRmTrue.removeMs)} ms | |
| the same ${r.runs} runs back to back, the last removal included, per run | ${ms(r.runRmTrue.loopMs)} ms | |
| guest instructions per run (v86's counter: does not grow with the host's load) | ${r.runRmTrue.loopMinstr.toFixed(1)} M | |
| \`strata --backend emu run --rm busybox true\`, CLI process to a warm per-store daemon | ${ms(r.cliRunRmTrueMs)} ms | |
| agent round trip (\`true\`, a builtin) / one busybox fork+exec | ${r.agentRoundTripMs.toFixed(1)} / ${r.forkExecMs.toFixed(1)} ms (${r.agentRoundTripMinstr.toFixed(2)} / ${r.forkExecMinstr.toFixed(2)} M instructions) | |
| 9p host to guest (16 MiB written by the host, \`cat\` in the guest) | ${r.p9.hostToGuestMBps.toFixed(1)} MB/s | |
| 9p guest to host (16 MiB \`dd\` in the guest, read by the host) | ${r.p9.guestToHostMBps.toFixed(1)} MB/s | |
| compressed snapshot (state.bin.gz) | ${(r.snapshotGzBytes / 1e6).toFixed(1)} MB | < 12 MB: ${goal(r.snapshotGzBytes < 12e6)} |
`;
fs.writeFileSync(path.join(here, 'RESULTS.md'), md);
fs.writeFileSync(path.join(here, 'results.json'), JSON.stringify(results, null, 2) + '\n');
console.log('\n' + md);
