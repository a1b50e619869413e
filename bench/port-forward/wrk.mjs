// wrk (Debian's) against one URL, optionally inside a network namespace: bounded by its duration.
// Returns requests/s, transfer MB/s and the latency percentiles wrk --latency prints.
import { execFileSync } from 'node:child_process';

const MS = { us: 1e-3, ms: 1, s: 1000 };
const UNITS = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

export function wrk(netns, url, seconds, connections = 8) {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '--latency', url];
  const argv = netns ? ['nsenter', `--net=${netns}`, 'wrk', ...args] : ['wrk', ...args];
  const out = execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const num = (re) => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk output without ${re}:\n${out}`);
    return m;
  };
  const pct = (p) => {
    const m = num(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm'));
    return Number(m[1]) * MS[m[2]];
  };
  const t = num(/^Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/m);
  const errors = /Socket errors: (.*)$/m.exec(out)?.[1] ?? '';
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  if (errors || non2xx) throw new Error(`wrk ${url}: errors (${errors} ${non2xx} non-2xx)\n${out}`);
  return {
    rps: Number(num(/^Requests\/sec:\s+([\d.]+)/m)[1]),
    mbps: (Number(t[1]) * UNITS[t[2]]) / 1e6,
    p50: pct(50),
    p99: pct(99),
  };
}
