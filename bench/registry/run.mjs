// bench/registry: push and pull a ~100 MB image (busybox + 4 layers of 25 MB random bytes) to a
// docker-registry on 127.0.0.1, against `skopeo copy` of the same image in the same run
// (oci-archive -> docker:// for push, docker:// -> oci: for pull). Timed runs, the median
// reported; every run uses a fresh repository and no client cache (strata's distribution
// metadata and skopeo's blob-info cache are removed), so nothing is skipped or mounted.
// Writes RESULTS.md and results.json beside this file.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const bin = path.join(repo, 'bin', 'strata.js');
const runs = Number(process.env.BENCH_RUNS ?? 3);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-registry-'));
const root = path.join(work, 'store');
const strataIn = (r, ...args) =>
  execFileSync(process.execPath, [bin, '--root', r, ...args], {
    encoding: 'utf8',
    env: { ...process.env },
  }).trim();
const strata = (...args) => strataIn(root, ...args);
const skopeoCaches = ['/var/lib/containers/cache', path.join(os.homedir(), '.local/share/containers/cache')];

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

// CPU seconds (user + system) of the children waited for so far: /proc/self/stat's cutime and
// cstime. On a machine others load, the CPU a command spends is steadier than its elapsed time.
const childCpu = () => {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const summary = (out, cpu) => {
  const sorted = [...out].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)],
    min: sorted[0],
    max: sorted[sorted.length - 1],
    cpu: median(cpu),
    runs: out,
  };
};

/**
 * Commands timed in turn, run i of each before run i + 1 of any (A/B interleaved: a change in the
 * machine's load during the bench weighs on all of them alike). Each: {name, prepare(i), cmd,
 * args(i), env}.
 */
function timeInterleaved(commands) {
  const out = commands.map(() => ({ wall: [], cpu: [] }));
  for (let i = 0; i < runs; i++)
    commands.forEach((c, k) => {
      c.prepare?.(i);
      const c0 = childCpu();
      const t0 = process.hrtime.bigint();
      execFileSync(c.cmd, c.args(i), {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, ...(c.env ?? {}) },
      });
      out[k].wall.push(Number(process.hrtime.bigint() - t0) / 1e9);
      out[k].cpu.push(childCpu() - c0);
    });
  return commands.map((c, k) => ({ name: c.name, ...summary(out[k].wall, out[k].cpu) }));
}

// What the last round of work changed, kept with the numbers it produced.
const note = `What changed on 2026-12-07 (the runs before, on a quiet machine: pull 0.49 s against
skopeo's 0.46 to 0.49 s, CPU 0.48 against 0.63). A pull as root no longer loads the CLI bundle:
bin/strata.js requires dist/BUILD/pull.cjs (cli/src/pull-direct.ts, one CommonJS file), whose
load took half the 30 ms the bundle's ES module graph took before the manifest request; the
manifest GET goes over wire.ts like the blobs, so a loopback pull loads neither node:http nor
node:https. The layer work can be split over two threads through a SharedArrayBuffer of 48
slots of 256 KiB (shared/src/registry/layer-thread.ts): the main thread reads the socket into a
slot, hashes the blob digest and gunzips into another slot, a worker (started before the
manifest request) hashes the diff ID and writes the file; a slot is reused once written, nothing
is copied or posted per piece, the worker is woken at most once per event-loop turn. The split
costs about 0.05 CPU second (the worker's start) and pays when a core is free: on cores busy
with other work the two threads wait for each other to be scheduled, so by default a pull
splits only while the 1-minute load average is under 2 per CPU (the first pull row; the next
two force either way). Runs are interleaved now. The CPU column is the steadier one on this
shared machine: elapsed times move with the load of the other engineers' work.
`;

// BENCH_AUTOGROUP_NICE=-15: this bench's session (it, the registry it starts, the commands it
// times) weighted over the other sessions' work by the scheduler (Linux autogroups: nice values of
// single processes count within their session only), to measure on a shared machine what a quiet
// one would show. The load average still counts the others' work.
const autogroupNice = process.env.BENCH_AUTOGROUP_NICE;
const autogroupBefore = /nice (-?\d+)/.exec(fs.readFileSync('/proc/self/autogroup', 'utf8'))?.[1];
if (autogroupNice !== undefined) fs.writeFileSync('/proc/self/autogroup', autogroupNice);
const priority =
  autogroupNice === undefined
    ? ''
    : ` This run's session was weighted with autogroup nice ${autogroupNice} over the other work (BENCH_AUTOGROUP_NICE).`;

let registry;
const loadStart = os
  .loadavg()
  .map((l) => l.toFixed(1))
  .join(' ');
try {
  const port = await freePort();
  fs.writeFileSync(
    path.join(work, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${work}/registry\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  registry = spawn('docker-registry', ['serve', path.join(work, 'config.yml')], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1000));
  const host = `127.0.0.1:${port}`;

  let base = 'busybox';
  for (let i = 1; i <= 4; i++) {
    strata('run', '--name', `c${i}`, base, 'sh', '-c', `head -c 25000000 /dev/urandom > /layer${i}`);
    strata('commit', `c${i}`, `bench:${i}`);
    strata('rm', `c${i}`);
    base = `bench:${i}`;
  }
  strata('tag', 'bench:4', 'bench:latest');
  const archive = path.join(work, 'bench.tar');
  strata('save', '-o', archive, 'bench:latest');
  const size = fs.statSync(archive).size;
  console.log(`image: ${(size / 1e6).toFixed(0)} MB in 5 layers`);

  const dropStrataCache = () =>
    fs.rmSync(path.join(root, 'image', 'overlay2', 'distribution'), { recursive: true, force: true });
  const dropSkopeoCache = () => skopeoCaches.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));

  const results = [];
  const push = (name, level) => ({
    prepare: (i) => {
      dropStrataCache();
      strata('tag', 'bench:latest', `${host}/${name}-${i}:v1`);
    },
    cmd: process.execPath,
    args: (i) => [bin, '--root', root, 'push', `${host}/${name}-${i}:v1`],
    env: level === undefined ? {} : { STRATA_PUSH_GZIP_LEVEL: String(level) },
  });
  results.push(
    ...timeInterleaved([
      { name: 'strata push (adaptive: stored blocks for incompressible layers)', ...push('strata-push') },
      {
        name: 'strata push (STRATA_PUSH_GZIP_LEVEL=6: always deflate, as docker)',
        ...push('strata-push6', 6),
      },
      {
        name: 'skopeo copy oci-archive: -> docker://',
        prepare: dropSkopeoCache,
        cmd: 'skopeo',
        args: (i) => [
          'copy',
          '-q',
          '--dest-tls-verify=false',
          `oci-archive:${archive}:bench:latest`,
          `docker://${host}/skopeo-push-${i}:v1`,
        ],
      },
    ]),
  );
  const pullRoot = (i) => path.join(work, `pull-${i}`);
  const strataPull = (name, dir, env) => ({
    name,
    prepare: (i) => fs.rmSync(path.join(work, `${dir}-${i}`), { recursive: true, force: true }),
    cmd: process.execPath,
    args: (i) => [bin, '--root', path.join(work, `${dir}-${i}`), 'pull', `${host}/strata-push-0:v1`],
    env,
  });
  const pulls = timeInterleaved([
    strataPull(
      'strata pull (download, verify digests and diff IDs, store; unpack deferred to first use)',
      'pull',
      {},
    ),
    strataPull('strata pull, STRATA_PULL_THREAD=1 (diff IDs and writes on a second thread)', 'pull1', {
      STRATA_PULL_THREAD: '1',
    }),
    strataPull('strata pull, STRATA_PULL_THREAD=0 (all on the main thread)', 'pull0', {
      STRATA_PULL_THREAD: '0',
    }),
    {
      name: 'skopeo copy docker:// -> oci: (download, verify)',
      prepare: (i) => {
        dropSkopeoCache();
        fs.rmSync(path.join(work, `oci-${i}`), { recursive: true, force: true });
      },
      cmd: 'skopeo',
      args: (i) => [
        'copy',
        '-q',
        '--src-tls-verify=false',
        `docker://${host}/strata-push-0:v1`,
        `oci:${path.join(work, `oci-${i}`)}:v1`,
      ],
    },
  ]);
  // What the deferred unpack costs: the first container of the pulled image unpacks its layers.
  const runAfterPull = (name) =>
    timeInterleaved([
      {
        name,
        cmd: process.execPath,
        args: (i) => [
          bin,
          '--root',
          pullRoot(i),
          'run',
          '--rm',
          '--net',
          'none',
          `${host}/strata-push-0:v1`,
          'true',
        ],
      },
    ]);
  const runs2 = runAfterPull('strata run --rm IMAGE true, first after the pull (unpacks the 5 layers)');
  const runs3 = runAfterPull('strata run --rm IMAGE true, second (layers unpacked already)');
  results.push(pulls[0], pulls[1], pulls[2], ...runs2, ...runs3, pulls[3]);
  for (let i = 0; i < runs; i++)
    for (const d of ['pull1', 'pull0'])
      fs.rmSync(path.join(work, `${d}-${i}`), { recursive: true, force: true });
  for (let i = 0; i < runs; i++) fs.rmSync(pullRoot(i), { recursive: true, force: true });

  const rows = results.map(
    (r) =>
      `| ${r.name} | ${r.median.toFixed(2)} | ${r.min.toFixed(2)} | ${r.max.toFixed(2)} | ${r.cpu.toFixed(2)} | ${(size / 1e6 / r.median).toFixed(0)} |`,
  );
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  const md = `# bench/registry

Push and pull of a ${(size / 1e6).toFixed(0)} MB image (busybox + 4 layers of 25 MB of random bytes) to
Debian's docker-registry on 127.0.0.1, against \`skopeo copy\` of the same image in the same run.
${runs} timed runs each, interleaved (run i of every push command, then run i + 1; the same for the
pulls), fresh repository per push, client caches dropped before each run (so no layer is skipped
or mounted). Random bytes do not compress: deflating them costs CPU and saves
nothing, the worst case for a pusher; strata detects that (a 256 KiB probe) and frames the layer
as stored gzip blocks around the store's own buffers, the second row forces docker's level 6.
Load average at the start and the end (other work shares the machine): ${loadStart} / ${load}.${priority}
\`strata pull\` streams each layer once, read from the socket into shared buffers: blob digest
and gunzip on the main thread, diff ID (checked against the config) and the write of the
uncompressed layer into the blob store on a second one (by default only while the 1-minute load
average is under 2 per CPU; \`STRATA_PULL_THREAD=1\` or \`0\` decides); the layers are unpacked on first use (as after \`commit\`, as containerd can),
which the two \`run\` rows show. \`skopeo copy\` to an OCI layout writes the blobs as they come (digest checked, no
gunzip). The CPU column counts the client only, not the registry.

Machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), Linux ${os.release()}, Node ${process.version}.
Date: ${new Date().toISOString()}.

| command | median s | min s | max s | CPU s (median, user + sys) | MB/s (median) |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

${note}
Reproduce: \`node bench/registry/run.mjs\` (BENCH_RUNS=N for more runs).
`;
  fs.writeFileSync(path.join(here, 'RESULTS.md'), md);
  fs.writeFileSync(path.join(here, 'results.json'), JSON.stringify({ size, results }, null, 2));
  console.log(md);
} finally {
  // The session's weight as it was (it outlives this bench when started from a shell).
  if (autogroupNice !== undefined && autogroupBefore !== undefined)
    fs.writeFileSync('/proc/self/autogroup', autogroupBefore);
  registry?.kill('SIGTERM');
  try {
    const ids = strata('ps', '-aq').split('\n').filter(Boolean);
    if (ids.length) strata('rm', '-f', ...ids);
  } catch {
    // best effort
  }
  fs.rmSync(work, { recursive: true, force: true });
}
