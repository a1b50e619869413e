// Run scenarios on the real kernel: each in a throwaway mount namespace whose root is a fresh tmpfs.
// The steps are done by build/strata-scenario (backend-native/stage/strata-scenario.c, one process
// per namespace of the scenario), which also reads each process's /proc/PID/mountinfo while they all
// wait; the same program runs in the emu guest. Many scenarios share one executor process, and a
// batch is split over a few of them.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findUp } from '../../shared/src/find-up.js';
import type { RawResult, Scenario, ScenarioResult } from '../../shared/src/scenario/index.js';
import { normaliseResult } from '../../shared/src/scenario/index.js';
import { decodeReport, encodeJobs } from '../../shared/src/scenario/wire.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export class KernelRunError extends Error {
  override name = 'KernelRunError';
}

/** The executor built by `npm run build` (scripts/build.mjs). */
function executorPath(): string {
  const found = findUp(here, 'build/strata-scenario');
  if (found && existsSync(found)) return found;
  throw new KernelRunError(
    `the scenario executor is not built (looked for build/strata-scenario above ${here}): run 'npm run build'`,
  );
}

/** Fails with a clear message when this machine cannot run scenarios for real. */
export function checkKernelRunner(): void {
  if (process.getuid?.() !== 0) throw new KernelRunError('the native scenario runner needs root (it mounts)');
  if (!/\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8')))
    throw new KernelRunError('the native scenario runner needs overlayfs (modprobe overlay)');
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
  const exe = executorPath();
  const parallel = Math.max(1, Math.min(opts.parallel ?? 6, scenarios.length));
  const size = Math.ceil(scenarios.length / parallel);
  const parts: Array<Promise<Array<RawResult | Error>>> = [];
  for (let at = 0; at < scenarios.length; at += size)
    parts.push(runExecutor(exe, scenarios.slice(at, at + size)));
  return (await Promise.all(parts)).flat();
}

/** One executor process running `scenarios` in order. */
async function runExecutor(exe: string, scenarios: readonly Scenario[]): Promise<Array<RawResult | Error>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-scenario-'));
  const jobsFile = path.join(dir, 'jobs');
  const world = path.join(dir, 'world');
  try {
    writeFileSync(jobsFile, encodeJobs(scenarios));
    mkdirSync(world);
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(exe, [jobsFile, world], { maxBuffer: 1 << 30 }, (err, out, errText) => {
        if (err) reject(new KernelRunError(`scenario executor failed: ${errText.trim() || err.message}`));
        else resolve(out);
      });
    });
    return decodeReport(stdout, scenarios);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
