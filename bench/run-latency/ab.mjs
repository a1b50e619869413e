// bench/run-latency/ab.mjs: two builds of strata side by side, `run --rm busybox /bin/true` through
// each one's warm daemon (bridge and --net none) beside `node -e 0`, in rounds whose order is
// shuffled (a run's deferred deletions overlap whichever run comes next). Wall time per run, the
// median of the paired differences within a round (robust to the load drifting between rounds,
// which one hyperfine block per command is not), the client's CPU (its children included, from
// /proc/self/stat's cutime and cstime) and each daemon's CPU with its children (the shims it
// starts). stdio is /dev/null, as hyperfine gives it.
//
//   node bench/run-latency/ab.mjs BEFORE/bin/strata.js AFTER/bin/strata.js   (BENCH_RUNS, default 30)
//
// Make BEFORE as an installation of its own: `git worktree add /tmp/before REV`, its node_modules
// linked, `npm run build` there.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const runs = Number(process.env.BENCH_RUNS ?? 30);
const bins = { before: path.resolve(process.argv[2] ?? ''), after: path.resolve(process.argv[3] ?? '') };
for (const b of Object.values(bins))
  if (!fs.existsSync(b)) throw new Error(`usage: ab.mjs BEFORE_BIN AFTER_BIN (${b}?)`);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-ab-'));
const roots = { before: path.join(work, 'before'), after: path.join(work, 'after') };
const run = (which, net) => [
  process.execPath,
  bins[which],
  '--root',
  roots[which],
  'run',
  '--rm',
  ...(net ? [] : ['--net', 'none']),
  'busybox',
  '/bin/true',
];
/** ms of CPU from /proc/PID/stat: utime+stime+cutime+cstime, or only the children's two. */
function cpu(pid, onlyChildren) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = onlyChildren
    ? Number(f[13]) + Number(f[14])
    : Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return ticks * 10;
}
const daemons = {};
try {
  for (const which of ['before', 'after']) {
    // The first run makes the store, the second starts its daemon; wait until one listens.
    execFileSync(run(which, false)[0], run(which, false).slice(1));
    for (let i = 0; !daemons[which]; i++) {
      execFileSync(run(which, false)[0], run(which, false).slice(1));
      const found = spawnSync('pgrep', ['-f', `${roots[which]} native-daemon`], { encoding: 'utf8' });
      daemons[which] = Number(found.stdout.trim().split('\n')[0]) || 0;
      if (i === 100) throw new Error(`no daemon for ${which}`);
      if (!daemons[which]) spawnSync('sleep', ['0.2']);
    }
  }
  const variants = [
    ['node -e 0', [process.execPath, '-e', '0'], null],
    ['before, bridge', run('before', true), 'before'],
    ['after, bridge', run('after', true), 'after'],
    ['before, --net none', run('before', false), 'before'],
    ['after, --net none', run('after', false), 'after'],
  ];
  const res = Object.fromEntries(variants.map(([n]) => [n, { wall: [], cpu: 0, daemon: 0 }]));
  const load = os.loadavg()[0];
  for (let round = 0; round < runs + 2; round++) {
    const order = [...variants].sort(() => Math.random() - 0.5);
    for (const [name, argv, which] of order) {
      const d0 = which ? cpu(daemons[which], false) : 0;
      const c0 = cpu(process.pid, true);
      const t0 = process.hrtime.bigint();
      const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
      if (round < 2) continue; // warm-up rounds
      res[name].wall.push(wall);
      res[name].cpu += cpu(process.pid, true) - c0;
      if (which) res[name].daemon += cpu(daemons[which], false) - d0;
    }
  }
  for (const which of ['before', 'after'])
    if (!fs.existsSync(`/proc/${daemons[which]}`)) throw new Error(`the ${which} daemon stopped meanwhile`);
  const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const paired = (a, b) => median(res[a].wall.map((w, i) => w - res[b].wall[i])).toFixed(1);
  const node = res['node -e 0'];
  console.log(`${runs} rounds, load average ${load.toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after`);
  console.log('| command | wall ms (median) | client CPU ms | daemon + children CPU ms |');
  console.log('|---|---:|---:|---:|');
  for (const [name, r] of Object.entries(res)) {
    const c = r.cpu / runs;
    const above = name === 'node -e 0' ? '' : ` (+${(c - node.cpu / runs).toFixed(1)})`;
    console.log(
      `| ${name} | ${median(r.wall).toFixed(1)} | ${c.toFixed(1)}${above} | ${(r.daemon / runs).toFixed(1)} |`,
    );
  }
  console.log(
    `paired medians, after minus before: bridge ${paired('after, bridge', 'before, bridge')} ms, --net none ${paired('after, --net none', 'before, --net none')} ms; ` +
      `above node -e 0: after ${paired('after, bridge', 'node -e 0')} / ${paired('after, --net none', 'node -e 0')} ms, before ${paired('before, bridge', 'node -e 0')} / ${paired('before, --net none', 'node -e 0')} ms`,
  );
} finally {
  for (const pid of Object.values(daemons)) if (pid) spawnSync('kill', [String(pid)]);
  spawnSync('sleep', ['1.5']); // the daemons leave once their store is gone; give them the moment
  spawnSync('sh', [
    '-c',
    `for m in $(grep -o "${work}[^ ]*" /proc/self/mounts | sort -r); do umount -l $m; done`,
  ]);
  fs.rmSync(work, { recursive: true, force: true });
}
