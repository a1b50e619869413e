// bench/run-latency: `strata run --rm busybox /bin/true` against its peers on the same rootfs, in one
// run of hyperfine rounds: node -e 0 (the floor for any Node CLI), util-linux unshare+chroot, runc, crun, and
// docker/podman when installed. strata runs both ways: through the store's warm daemon (the default
// once one is up) and directly (STRATA_DAEMON=0). Prints medians and ratios; writes results.json
// and RESULTS.md.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const bin = path.join(repo, 'bin', 'strata.js');
const runs = Number(process.env.BENCH_RUNS ?? 30);
/** Rounds the runs are split into (BENCH_ROUNDS), each running every command in turn. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-'));
const root = path.join(work, 'store');
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Median ms of writing a sleeping process's PID into a new cgroup2 group after 200 ms of quiet. */
function measureCgroupMove() {
  const mount = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((l) => l.includes(' - cgroup2 '))
    ?.split(' ')[4];
  if (!mount) return NaN;
  const group = path.join(mount, `strata-bench-move-${process.pid}`);
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  const times = [];
  try {
    fs.mkdirSync(group);
    const parent = fs.readFileSync(`/proc/${child.pid}/cgroup`, 'utf8').match(/^0::(.*)$/m)?.[1] ?? '/';
    for (let i = 0; i < 5; i++) {
      pause(200);
      const t0 = performance.now();
      fs.writeFileSync(path.join(group, 'cgroup.procs'), String(child.pid));
      times.push(performance.now() - t0);
      fs.writeFileSync(path.join(mount, parent, 'cgroup.procs'), String(child.pid));
    }
  } finally {
    child.kill('SIGKILL');
    pause(50);
    try {
      fs.rmdirSync(group); // a cgroup directory goes with rmdir(2), its files with it
    } catch {
      /* never made */
    }
  }
  return times.sort((a, b) => a - b)[2];
}

try {
  // The busybox image's only layer is the rootfs every peer runs.
  execFileSync(process.execPath, [bin, '--root', root, 'run', '--rm', 'busybox', 'true']);
  // The first run in a store starts its daemon: wait until runs go through it.
  const viaDaemon = () =>
    spawnSync(process.execPath, [bin, '--root', root, 'run', '--rm', 'busybox', 'true'], {
      env: { ...process.env, STRATA_TRACE: '1' },
      encoding: 'utf8',
    }).stderr.includes('client: run through the daemon');
  for (let i = 0; !viaDaemon(); i++) {
    if (i === 100) throw new Error('the strata daemon did not start');
    spawnSync('sleep', ['0.2']);
  }
  const daemonPid = Number(
    execFileSync('pgrep', ['-f', `${root} native-daemon`], { encoding: 'utf8' }).trim(),
  );
  const daemonCpu = () => {
    const f = fs.readFileSync(`/proc/${daemonPid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in ticks of 10 ms
  };
  const [image] = JSON.parse(
    execFileSync(process.execPath, [bin, '--root', root, 'inspect', 'busybox'], { encoding: 'utf8' }),
  );
  const rootfs = image.GraphDriver.Data.UpperDir;
  const bundle = path.join(work, 'bundle');
  fs.mkdirSync(bundle);
  execFileSync('runc', ['spec'], { cwd: bundle });
  const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  spec.root = { path: rootfs, readonly: true };
  spec.process.args = ['/bin/true'];
  spec.process.terminal = false;
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));

  // An environment with NODE_EXTRA_CA_CERTS (this workplace's) makes every Node start read and parse
  // the CA bundle, 55-100 ms here: the same for `node -e 0` and strata's client, but its own spread
  // between hyperfine's blocks of runs moved the difference by 10 ms. Node's rows run without it;
  // one row with it shows what it costs.
  const extraCa = process.env.NODE_EXTRA_CA_CERTS !== undefined;
  const unsetCa = extraCa ? '-u NODE_EXTRA_CA_CERTS ' : '';
  // Every Node row pays the same `env` exec (about 1 ms), so that only the path differs.
  const strata = (daemon, flags) =>
    `env ${unsetCa}STRATA_DAEMON=${daemon} ${process.execPath} ${bin} --root ${root} run --rm ${flags}busybox /bin/true`;
  const commands = [
    ['node -e 0', `env ${unsetCa}${process.execPath} -e 0`],
    ['strata run --rm', strata(1, '')],
    // Docker's defaults cost a bridge network (veth, nft) and confinement; these rows take them away.
    ['strata run --rm --net none', strata(1, '--net none ')],
    ['strata run --rm --net none --privileged', strata(1, '--net none --privileged ')],
    ['direct: strata run --rm', strata(0, '')],
    ['direct: strata run --rm --net none', strata(0, '--net none ')],
    ['unshare + chroot', `unshare -m -u -i -n -p --fork --mount-proc chroot ${rootfs} /bin/true`],
  ];
  if (extraCa) commands.splice(1, 0, ['node -e 0 with NODE_EXTRA_CA_CERTS', `env ${process.execPath} -e 0`]);
  if (have('runc')) commands.push(['runc run', `sh -c 'exec runc run -b ${bundle} bench-runc-$$'`]);
  // crun 1.8 refuses cgroup v1 hybrid layouts unless the unified mount is hidden (shared/notes).
  if (have('crun'))
    commands.push([
      'crun run',
      `unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun run -b ${bundle} bench-crun-$$'`,
    ]);
  if (have('docker') && spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0)
    commands.push(['docker run --rm', 'docker run --rm --network none busybox /bin/true']);
  if (have('podman'))
    commands.push([
      'podman run --rm',
      'podman --cgroup-manager=cgroupfs run --rm --network none busybox /bin/true',
    ]);

  // Other work on the machine inflates wall times: the load average goes into the results, and CPU
  // time (user + system, the command's children included) is reported beside them.
  const loadBefore = os.loadavg()[0];
  const daemonCpuBefore = daemonCpu();
  // In rounds: hyperfine runs each command's runs in one block, and this machine's speed drifts
  // between blocks (the same command's median moved by 10 ms from one block to the next); rounds of
  // a few runs per command, their times pooled, spread the drift over every command alike.
  const rounds = Math.max(1, Math.min(ROUNDS, runs));
  const pooled = new Map(commands.map(([name]) => [name, { times: [], user: 0, system: 0 }]));
  for (let round = 0; round < rounds; round++) {
    const json = path.join(work, `hyperfine-${round}.json`);
    const perRound = Math.ceil(runs / rounds);
    const args = [
      '-N',
      '--warmup',
      round === 0 ? '3' : '1',
      '--runs',
      String(perRound),
      '--export-json',
      json,
    ];
    for (const [name, cmd] of commands) args.push('-n', name, cmd);
    execFileSync('hyperfine', args, { stdio: round === 0 ? 'inherit' : 'ignore' });
    for (const r of JSON.parse(fs.readFileSync(json, 'utf8')).results) {
      const p = pooled.get(r.command);
      p.times.push(...r.times);
      p.user += r.user * r.times.length;
      p.system += r.system * r.times.length;
    }
  }
  // A daemon replaced meanwhile (dist/ rebuilt: a new build has its own daemon) made some of the
  // daemon rows direct runs: the numbers would mix both ways.
  if (!fs.existsSync(`/proc/${daemonPid}`))
    throw new Error('the strata daemon stopped during the run (dist/ rebuilt meanwhile?): run again');
  // The daemon's CPU is not the client's: hyperfine cannot see it. Per run of the three daemon rows.
  const daemonRuns = [...pooled.values()][0].times.length + 3 + (rounds - 1);
  const daemonCpuPerRun = (daemonCpu() - daemonCpuBefore) / (3 * daemonRuns);

  const median = (xs) => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
  };
  const results = [...pooled].map(([name, p]) => {
    const mean = p.times.reduce((a, b) => a + b, 0) / p.times.length;
    const sd = Math.sqrt(p.times.reduce((a, t) => a + (t - mean) ** 2, 0) / p.times.length);
    return {
      name,
      median: median(p.times) * 1000,
      mean: mean * 1000,
      stddev: sd * 1000,
      cpu: ((p.user + p.system) / p.times.length) * 1000,
    };
  });
  const load = `load average ${loadBefore.toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after`;
  // Moving a task between cgroups can wait for an RCU grace period after a quiet spell (up to ~15
  // ms, every runtime alike; cgroup2's favordynmods mount option removes it, an administrator's
  // choice that mountinfo does not always show): measured here, so the results say which it was.
  const cgroupMoveMs = measureCgroupMove();
  const by = Object.fromEntries(results.map((r) => [r.name, r]));
  const warm = by['strata run --rm'];
  const warmNone = by['strata run --rm --net none'];
  const direct = by['direct: strata run --rm'];
  const directNone = by['direct: strata run --rm --net none'];
  const node = by['node -e 0'];
  const lines = [
    `# bench/run-latency (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, ${[...pooled.values()][0].times.length} runs in ${rounds} rounds, medians; ${load}; one cgroup move after 200 ms idle: ${cgroupMoveMs.toFixed(2)} ms)`,
    '',
    '| command | median ms | CPU ms (user+sys, mean) | strata / this |',
    '|---|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.median.toFixed(1)} | ${r.cpu.toFixed(1)} | ${(warm.median / r.median).toFixed(2)} |`,
    ),
    '',
    `strata's cost above \`node -e 0\` through the warm daemon: ${(warm.median - node.median).toFixed(1)} ms with Docker's defaults, ` +
      `${(warmNone.median - node.median).toFixed(1)} ms with --net none (goal: at most 15 ms); directly (STRATA_DAEMON=0): ` +
      `${(direct.median - node.median).toFixed(1)} ms and ${(directNone.median - node.median).toFixed(1)} ms. ` +
      `Confinement (caps, masks, seccomp) costs ${(warmNone.median - by['strata run --rm --net none --privileged'].median).toFixed(1)} ms (goal: at most 3 ms). ` +
      `In CPU time above node: ${(warm.cpu - node.cpu).toFixed(1)} ms and ${(warmNone.cpu - node.cpu).toFixed(1)} ms in the client, ` +
      `plus ${daemonCpuPerRun.toFixed(1)} ms in the daemon per run; directly ${(direct.cpu - node.cpu).toFixed(1)} ms and ${(directNone.cpu - node.cpu).toFixed(1)} ms.`,
    ...(extraCa
      ? [
          '',
          `This environment sets NODE_EXTRA_CA_CERTS, which makes every Node start (\`node -e 0\` and strata's client alike) read the CA bundle: ` +
            `${(by['node -e 0 with NODE_EXTRA_CA_CERTS'].median - node.median).toFixed(1)} ms more for \`node -e 0\`. The Node rows above ran without it.`,
        ]
      : []),
    '',
  ];
  console.log('\n' + lines.join('\n'));
  fs.writeFileSync(
    path.join(here, 'results.json'),
    JSON.stringify(
      { date: new Date().toISOString(), runs, load, cgroupMoveMs, daemonCpuPerRun, results },
      null,
      2,
    ) + '\n',
  );
  fs.writeFileSync(path.join(here, 'RESULTS.md'), lines.join('\n'));
} finally {
  spawnSync('sh', [
    '-c',
    `for m in $(grep -o "${work}[^ ]*" /proc/self/mounts | sort -r); do umount -l $m; done`,
  ]);
  fs.rmSync(work, { recursive: true, force: true });
}
