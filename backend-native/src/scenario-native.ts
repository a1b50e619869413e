// Run scenarios on the real kernel: each in a throwaway mount namespace whose root is a fresh tmpfs
// (scenario-executor.ts does the steps, one process per namespace of the scenario). Many scenarios
// share one executor process, so a batch of 500 costs one Python start, not 500.
// Mount tables are read here, from the host, as /proc/PID/mountinfo of each process of the chain
// while it waits: that works after pivot_root, when the namespace has no /proc of its own.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMountinfo } from '../../shared/src/mount/mountinfo.js';
import type { MountInfo } from '../../shared/src/mount/mountinfo.js';
import { mountFlagsValue } from '../../shared/src/mount/options.js';
import type {
  Call,
  RawResult,
  RawTreeEntry,
  Scenario,
  ScenarioResult,
} from '../../shared/src/scenario/index.js';
import { layerCalls, normaliseResult, stepCalls } from '../../shared/src/scenario/index.js';
import { EXECUTOR } from './scenario-executor.js';

/** The system python starts much faster than a pyenv shim. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** A call as the executor takes it: mount flags as the number mount(2) wants. */
type WireCall = Omit<Call, 'flags'> & { flags?: number };

function wire(c: Call): WireCall {
  return c.c === 'mount' ? { ...c, flags: mountFlagsValue(c.flags) } : c;
}

interface Job {
  layers: WireCall[];
  steps: WireCall[][];
  trees: string[];
}

interface JobReport {
  outcomes?: string[];
  chain?: Array<number | null>;
  trees?: Record<string, RawTreeEntry[] | string>;
  error?: string;
}

export class KernelRunError extends Error {
  override name = 'KernelRunError';
}

/** Fails with a clear message when this machine cannot run scenarios for real. */
export function checkKernelRunner(): void {
  if (process.getuid?.() !== 0) throw new KernelRunError('the native scenario runner needs root (it mounts)');
  if (!/\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8')))
    throw new KernelRunError('the native scenario runner needs overlayfs (modprobe overlay)');
}

/** The processes of a job's chain, outermost first: each waits on exactly one child. */
function chainPids(top: number): number[] {
  const pids = [top];
  for (;;) {
    const last = pids[pids.length - 1] as number;
    const kids = readFileSync(`/proc/${last}/task/${last}/children`, 'utf8').trim();
    if (kids === '') return pids;
    pids.push(Number(kids.split(' ')[0]));
  }
}

/**
 * Run scenarios on this machine's kernel. They are split over `parallel` executor processes: most of
 * a scenario's time is the kernel tearing its namespace down (RCU grace periods), not CPU.
 */
export async function runOnKernelBatchRaw(
  scenarios: readonly Scenario[],
  opts: { parallel?: number } = {},
): Promise<Array<RawResult | Error>> {
  checkKernelRunner();
  const parallel = Math.max(1, Math.min(opts.parallel ?? 6, scenarios.length));
  const size = Math.ceil(scenarios.length / parallel);
  const parts: Array<Promise<Array<RawResult | Error>>> = [];
  for (let at = 0; at < scenarios.length; at += size) parts.push(runExecutor(scenarios.slice(at, at + size)));
  return (await Promise.all(parts)).flat();
}

/** One executor process running `scenarios` in order. */
async function runExecutor(scenarios: readonly Scenario[]): Promise<Array<RawResult | Error>> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-scenario-'));
  const jobsFile = join(dir, 'jobs.json');
  const world = join(dir, 'world');
  const jobs: Job[] = scenarios.map((s) => ({
    layers: layerCalls(s.layers).map(wire),
    steps: s.steps.map((st) => stepCalls(st).map(wire)),
    trees: s.trees,
  }));
  writeFileSync(jobsFile, JSON.stringify(jobs));
  mkdirSync(world);
  const results: Array<RawResult | Error> = scenarios.map(() => new KernelRunError('not run'));
  const tops = new Map<number, number>();
  const tables = new Map<number, MountInfo[][]>();
  try {
    const child = spawn(PYTHON, ['-c', EXECUTOR, jobsFile, world], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    let buf = '';
    const onLine = (line: string): void => {
      const m = /^([PRJD]) (\d+) ?(.*)$/.exec(line);
      if (!m) return;
      const i = Number(m[2]);
      const rest = m[3] ?? '';
      if (m[1] === 'P') tops.set(i, Number(rest));
      else if (m[1] === 'R') {
        const top = tops.get(i);
        if (top === undefined) throw new KernelRunError(`job ${i}: ready before its pid was known`);
        tables.set(
          i,
          chainPids(top).map((pid) => parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'))),
        );
        child.stdin.write('go\n');
      } else if (m[1] === 'J') {
        const rep = JSON.parse(rest) as JobReport;
        if (rep.error !== undefined) {
          results[i] = new KernelRunError(`${scenarios[i]?.name ?? i}: ${rep.error}`);
          return;
        }
        const t = tables.get(i) ?? [];
        const chain = rep.chain ?? [];
        if (t.length !== chain.length) {
          results[i] = new KernelRunError(`job ${i}: ${t.length} mount tables for ${chain.length} processes`);
          return;
        }
        results[i] = {
          outcomes: rep.outcomes ?? [],
          tables: t.map((entries, k) => ({ createdBy: chain[k] ?? null, entries })),
          trees: rep.trees ?? {},
        };
      }
    };
    await new Promise<void>((resolve, reject) => {
      child.on('error', (err) =>
        reject(
          new KernelRunError(
            `cannot start ${PYTHON} (the native scenario runner needs python3): ${err.message}`,
          ),
        ),
      );
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            onLine(line);
          } catch (err) {
            child.kill();
            reject(err as Error);
          }
        }
      });
      child.on('close', (code) => {
        if (code !== 0) reject(new KernelRunError(`scenario executor exited ${code}: ${stderr}`));
        else resolve();
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

export async function runOnKernelBatch(
  scenarios: readonly Scenario[],
): Promise<Array<ScenarioResult | Error>> {
  const raw = await runOnKernelBatchRaw(scenarios);
  return raw.map((r, i) => (r instanceof Error ? r : normaliseResult((scenarios[i] as Scenario).name, r)));
}

export async function runOnKernel(s: Scenario): Promise<ScenarioResult> {
  const [r] = await runOnKernelBatch([s]);
  if (!r || r instanceof Error) throw r ?? new KernelRunError('no result');
  return r;
}
