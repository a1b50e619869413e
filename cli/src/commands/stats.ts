// strata stats: live resource usage of running containers, as `docker stats` (cgroup counters).
import { readCgroupStats, type CgroupStats } from '../../../backend-native/src/cgroup-stats.js';
import type { ContainerRecord } from '../../../shared/src/container/types.js';
import { StrataError } from '../../../shared/src/errors.js';
import type { Command } from '../context.js';
import { bool, type Parsed } from '../flags.js';
import { table } from '../format.js';

/** CPU % is a rate: Docker samples twice; this interval keeps `--no-stream` quick but meaningful. */
const SAMPLE_MS = 500;
const STREAM_MS = 1000;

/** Docker's units.BytesSize: "%.4g" with binary units. */
export function bytesSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${Number(n.toPrecision(4))}${units[i]}`;
}

interface Sample {
  at: number;
  stats: CgroupStats | null;
}

function sample(recs: ContainerRecord[]): Sample[] {
  return recs.map((r) => ({ at: performance.now(), stats: readCgroupStats(r.Strata.cgroupPath) }));
}

export function statsRow(rec: ContainerRecord, before: Sample, after: Sample): string[] {
  const s = after.stats;
  const id = rec.Id.slice(0, 12);
  const name = rec.Name.slice(1);
  if (!s) return [id, name, '--', '-- / --', '--', '--'];
  const wallNs = (after.at - before.at) * 1e6;
  const cpu = before.stats && wallNs > 0 ? ((s.cpuNanos - before.stats.cpuNanos) / wallNs) * 100 : 0;
  const memPct = s.memoryLimitBytes > 0 ? (s.memoryBytes / s.memoryLimitBytes) * 100 : 0;
  return [
    id,
    name,
    `${Math.max(0, cpu).toFixed(2)}%`,
    `${bytesSize(s.memoryBytes)} / ${bytesSize(s.memoryLimitBytes)}`,
    `${memPct.toFixed(2)}%`,
    String(s.pids),
  ];
}

const HEADERS = ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'PIDS'];

export const statsCommand: Command = {
  name: 'stats',
  usage: 'stats [OPTIONS] [CONTAINER...]',
  description: 'Display a live stream of container(s) resource usage statistics',
  flags: [
    { name: 'no-stream', type: 'bool', help: 'Disable streaming stats and only pull the first result' },
    { name: 'all', short: 'a', type: 'bool', help: 'Show all containers (default shows just running)' },
  ],
  async run(ctx, p: Parsed) {
    const engine = await ctx.engine();
    if (engine.backend.kind !== 'native')
      throw new StrataError(`stats is not available on the ${engine.backend.kind} backend yet`);
    const recs =
      p.args.length > 0
        ? await Promise.all(p.args.map((r) => engine.find(r)))
        : await engine.list(bool(p, 'all'));
    let before = sample(recs);
    for (;;) {
      await new Promise((r) => setTimeout(r, bool(p, 'no-stream') ? SAMPLE_MS : STREAM_MS));
      const after = sample(recs);
      const text = table(
        HEADERS,
        recs.map((r, i) => statsRow(r, before[i]!, after[i]!)),
      );
      if (bool(p, 'no-stream')) {
        ctx.out(text);
        return 0;
      }
      ctx.out(`\x1b[2J\x1b[H${text}`); // clear the screen between refreshes, as docker does
      before = after;
    }
  },
};
