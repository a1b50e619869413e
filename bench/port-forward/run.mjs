// bench/port-forward: HTTP load through `-p` (nftables DNAT from 127.0.0.1) against the same server
// reached directly inside the container's network namespace (the goal: >= 0.8x direct).
// Two loads: wrk (Debian's; the headline, 8 connections for a fixed time) and a Node client that
// also measures the two other paths a user could take: the container's bridge address, and a
// userspace proxy (what docker-proxy and rootless forwarders do), the alternative NAT was chosen
// over. One run, bounded loops, traffic only to 127.0.0.1 and to the container this script creates.
// Prints tables; writes results.json and RESULTS.md.
//
// The server is Node (server.mjs) started in the container's network namespace through its
// SandboxKey, so the busybox image needs nothing installed and keep-alive works.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { wrk } from './wrk.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.resolve(here, '..', '..', 'bin', 'strata.js');
const scale = Number(process.env.BENCH_SCALE ?? 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
/** Seconds per wrk run (each path, each body size, each round). */
const wrkSeconds = Number(process.env.BENCH_WRK_SECONDS ?? 5);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-portfwd-'));
const strata = (...args) =>
  execFileSync(process.execPath, [bin, '--root', root, ...args], { encoding: 'utf8' });
const children = [];

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Start a helper and wait for its "ready" line. */
function start(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`)));
  });
}

/** Run the client on the host, or inside a network namespace when `netns` is given. */
function measure(netns, host, port) {
  const client = [process.execPath, path.join(here, 'client.mjs'), host, String(port), String(scale)];
  const argv = netns ? ['nsenter', `--net=${netns}`, ...client] : client;
  return JSON.parse(execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' }));
}

let id;
try {
  const hostPort = await freePort();
  const proxyPort = await freePort();
  id = strata('run', '-d', '-p', `${hostPort}:8080`, 'busybox', 'sleep', '3600').trim();
  const [c] = JSON.parse(strata('inspect', id));
  const { SandboxKey: key, IPAddress: ip } = c.NetworkSettings;
  await start('nsenter', [`--net=${key}`, process.execPath, path.join(here, 'server.mjs'), '8080']);
  await start(process.execPath, [path.join(here, 'proxy.mjs'), String(proxyPort), ip, '8080']);

  const paths = [
    ['direct (client inside the netns, 127.0.0.1:8080)', key, '127.0.0.1', 8080],
    [`bridge (host to ${ip}:8080)`, null, ip, 8080],
    [`-p NAT (host 127.0.0.1:${hostPort})`, null, '127.0.0.1', hostPort],
    [`userspace proxy (host 127.0.0.1:${proxyPort})`, null, '127.0.0.1', proxyPort],
  ];
  // Rounds interleave the paths, and each metric is the median over rounds: on a shared 2-core VM
  // the background load shifts within a minute, and this spreads it over every path alike.
  const samples = Object.fromEntries(paths.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, netns, host, port] of paths) samples[name].push(measure(netns, host, port));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const results = Object.fromEntries(
    Object.entries(samples).map(([name, runs]) => [
      name,
      Object.fromEntries(Object.keys(runs[0]).map((k) => [k, median(runs.map((r) => r[k]))])),
    ]),
  );

  // wrk: direct (inside the netns) vs -p, small and 1 MiB bodies, interleaved rounds, medians.
  const wrkPaths = [
    ['direct (wrk inside the netns, 127.0.0.1:8080)', key, '127.0.0.1', 8080],
    [`-p NAT (host 127.0.0.1:${hostPort})`, null, '127.0.0.1', hostPort],
    // Where the cost lies: veth + bridge without NAT.
    [`bridge (host to ${ip}:8080)`, null, ip, 8080],
  ];
  const wrkSamples = Object.fromEntries(wrkPaths.map(([name]) => [name, { small: [], big: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, netns, host, port] of wrkPaths) {
      wrkSamples[name].small.push(wrk(netns, `http://${host}:${port}/small`, wrkSeconds));
      wrkSamples[name].big.push(wrk(netns, `http://${host}:${port}/big`, wrkSeconds));
    }
  }
  const wrkResults = Object.fromEntries(
    Object.entries(wrkSamples).map(([name, s]) => [
      name,
      {
        rps: median(s.small.map((r) => r.rps)),
        p50: median(s.small.map((r) => r.p50)),
        p99: median(s.small.map((r) => r.p99)),
        mbps: median(s.big.map((r) => r.mbps)),
      },
    ]),
  );
  const [wrkDirect, wrkNat] = Object.values(wrkResults);
  const ratio = { rps: wrkNat.rps / wrkDirect.rps, mbps: wrkNat.mbps / wrkDirect.mbps };
  const wrkTable = [
    'path | req/s (8 conns) | p50 ms | p99 ms | MB/s (1 MiB bodies)',
    '--- | --- | --- | --- | ---',
    ...Object.entries(wrkResults).map(([name, r]) =>
      [name, r.rps.toFixed(0), r.p50.toFixed(2), r.p99.toFixed(2), r.mbps.toFixed(0)].join(' | '),
    ),
  ]
    .map((l) => `| ${l} |`)
    .join('\n');

  const direct = Object.values(results)[0];
  const rows = Object.entries(results).map(([name, r]) =>
    [
      name,
      r.latencyP50.toFixed(3),
      r.latencyP99.toFixed(2),
      r.rps.toFixed(0),
      r.connectP50.toFixed(3),
      r.parallelRps.toFixed(0),
      r.mbps.toFixed(0),
      (r.parallelRps / direct.parallelRps).toFixed(2),
      (r.mbps / direct.mbps).toFixed(2),
    ].join(' | '),
  );
  const header =
    'path | p50 ms | p99 ms | req/s (1 conn) | new-conn p50 ms | req/s (8 conns) | MB/s (1 MiB bodies) | req/s vs direct | MB/s vs direct';
  const rule = header
    .split(' | ')
    .map(() => '---')
    .join(' | ');
  const table = [header, rule, ...rows].map((l) => `| ${l} |`).join('\n');
  const machine = `${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? ''}, Node ${process.version}, wrk ${wrkSeconds} s per run, Node client scale ${scale}, median of ${rounds} interleaved rounds, load average ${os.loadavg()[0].toFixed(1)} at the end`;
  const verdict = `-p vs direct (wrk): ${ratio.rps.toFixed(2)}x requests/s, ${ratio.mbps.toFixed(2)}x MB/s (goal >= 0.8x: ${ratio.rps >= 0.8 && ratio.mbps >= 0.8 ? 'met' : 'not met'})`;
  const report = [
    '# bench/port-forward',
    '',
    `Run of ${new Date().toISOString()}: \`node bench/port-forward/run.mjs\` (${machine}).`,
    '',
    '## wrk: `-p` against the same server reached directly inside its network namespace',
    '',
    wrkTable,
    '',
    verdict,
    '',
    '## Node client: every path (keep-alive latency, new connections, 8 parallel loops, 1 MiB bodies)',
    '',
    table,
    '',
  ].join('\n');
  process.stdout.write(`${report}\n`);
  fs.writeFileSync(path.join(here, 'RESULTS.md'), report);
  fs.writeFileSync(
    path.join(here, 'results.json'),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        scale,
        rounds,
        wrkSeconds,
        loadavg: os.loadavg(),
        wrk: { results: wrkResults, ratio, samples: wrkSamples },
        node: { results, samples },
      },
      null,
      2,
    ) + '\n',
  );
} finally {
  for (const c of children) c.kill('SIGTERM');
  if (id) strata('rm', '-f', id);
  fs.rmSync(root, { recursive: true, force: true });
}
