// One measurement against host:port: bounded loops of HTTP GETs, printed as one JSON line.
//   latency:   sequential keep-alive GETs of a 3-byte body (ms per request, p50/p99)
//   connect:   sequential GETs each on a new TCP connection (the NAT/proxy setup cost per connection)
//   parallel:  8 concurrent keep-alive loops (requests/s)
//   bandwidth: sequential keep-alive GETs of a 1 MiB body (MB/s)
import http from 'node:http';

const [host, portText, scaleText] = process.argv.slice(2);
const port = Number(portText);
const scale = Number(scaleText ?? 1);

function get(agent, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent }, (res) => {
      let n = 0;
      res.on('data', (d) => (n += d.length));
      res.on('end', () => resolve(n));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function timed(n, agent, path) {
  const times = [];
  let bytes = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    bytes += await get(agent, path);
    times.push(performance.now() - s);
  }
  const wall = performance.now() - t0;
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  return { n, wall, bytes, p50: q(0.5), p99: q(0.99), rps: (n * 1000) / wall };
}

const keep = new http.Agent({ keepAlive: true, maxSockets: 8 });
const fresh = new http.Agent({ keepAlive: false });
await timed(200, keep, '/small'); // warm-up
const latency = await timed(2000 * scale, keep, '/small');
const connect = await timed(500 * scale, fresh, '/small');
const t0 = performance.now();
const loops = await Promise.all(Array.from({ length: 8 }, () => timed(500 * scale, keep, '/small')));
const parallelRps = (loops.reduce((s, l) => s + l.n, 0) * 1000) / (performance.now() - t0);
const bw = await timed(200 * scale, keep, '/big');
keep.destroy();
process.stdout.write(
  JSON.stringify({
    latencyP50: latency.p50,
    latencyP99: latency.p99,
    rps: latency.rps,
    connectP50: connect.p50,
    connectRps: connect.rps,
    parallelRps,
    mbps: bw.bytes / 1e6 / (bw.wall / 1000),
  }) + '\n',
);
