// Scenarios (docs/scenarios.md) on the emu guest's kernel: the native runner's executor
// (backend-native/stage/strata-scenario.c), built for i386 by images/guest/build.sh into the guest
// cache, is copied into the 9p share once per guest; a batch of scenarios is one request that runs it
// there (the jobs file in, its JSON-lines report out through the share, not the slow serial line).
// The executor reads each process's /proc/PID/mountinfo in the guest itself, so what comes back is
// the same raw result as on the host, normalised by the same core code.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RawResult, Scenario, ScenarioResult } from '../../shared/src/scenario/index.js';
import { normaliseResult } from '../../shared/src/scenario/index.js';
import { decodeReport, encodeJobs } from '../../shared/src/scenario/wire.js';
import { GUEST_HOST_MOUNT, GuestMachine, guestCacheDir } from './guest.ts';

/** Our directory in the 9p share (host-side name); the guest sees it under /mnt/host. */
const SHARE = '.strata-scenario';
const GUEST_DIR = `${GUEST_HOST_MOUNT}/${SHARE}`;
/** Worlds are made under the guest's own tmpfs root (a 9p directory cannot be pivoted into usefully). */
const GUEST_WORLD = '/run/strata-scenario';
/** Generous per-scenario time: at load 10 one takes about 0.3 s in the emulated CPU. */
const MS_PER_SCENARIO = 2_000;

export class EmuScenarioError extends Error {
  override name = 'EmuScenarioError';
}

/** The i386 executor built by images/guest/build.sh, next to the saved machine. */
export function emuExecutorPath(dir: string = guestCacheDir()): string {
  const p = join(dir, 'strata-scenario');
  if (!existsSync(p))
    throw new EmuScenarioError(
      `${p} is missing: build the guest with 'bash images/guest/build.sh' (it cross-compiles the scenario executor)`,
    );
  return p;
}

/**
 * Runs scenario batches in one guest: the one given (kept running), or one restored from the
 * snapshot on first use and stopped by close().
 */
export class EmuScenarioRunner {
  private guest: Promise<GuestMachine> | null;
  private readonly owned: boolean;
  private installed = false;
  private batches = 0;

  constructor(guest?: GuestMachine) {
    this.guest = guest ? Promise.resolve(guest) : null;
    this.owned = !guest;
  }

  private machine(): Promise<GuestMachine> {
    this.guest ??= GuestMachine.restore();
    return this.guest;
  }

  /** The guest kernel's `uname -r` (recorded with the saved machine). */
  async release(): Promise<string> {
    return (await this.machine()).meta.kernel;
  }

  async runRaw(scenarios: readonly Scenario[]): Promise<Array<RawResult | Error>> {
    if (scenarios.length === 0) return [];
    const exe = emuExecutorPath();
    const g = await this.machine();
    const n = ++this.batches;
    const jobs = `${SHARE}/jobs-${n}`;
    const out = `${SHARE}/out-${n}`;
    await g.writeFile(jobs, encodeJobs(scenarios));
    // v86's 9p creates files without the execute bit: once per guest.
    const install = this.installed ? '' : `chmod 755 ${GUEST_DIR}/strata-scenario && `;
    if (!this.installed) await g.writeFile(`${SHARE}/strata-scenario`, readFileSync(exe));
    const script =
      `${install}mkdir -p ${GUEST_WORLD} && ` +
      `${GUEST_DIR}/strata-scenario ${GUEST_DIR}/jobs-${n} ${GUEST_WORLD} > ${GUEST_DIR}/out-${n}`;
    try {
      const r = await g.run(script, { timeoutMs: 30_000 + MS_PER_SCENARIO * scenarios.length });
      if (r.exitCode !== 0)
        throw new EmuScenarioError(
          `the scenario executor failed in the guest (exit ${r.exitCode}): ${r.stderr.trim()}`,
        );
      this.installed = true;
      return decodeReport(new TextDecoder().decode(await g.readFile(out)), scenarios);
    } finally {
      await g.removeFile(jobs).catch(() => undefined);
      await g.removeFile(out).catch(() => undefined);
    }
  }

  async run(scenarios: readonly Scenario[]): Promise<Array<ScenarioResult | Error>> {
    const raw = await this.runRaw(scenarios);
    return raw.map((r, i) => (r instanceof Error ? r : normaliseResult((scenarios[i] as Scenario).name, r)));
  }

  /** Stops the guest if this runner restored it. */
  async close(): Promise<void> {
    const g = this.guest;
    this.guest = null;
    if (this.owned && g) await (await g.catch(() => null))?.stop();
  }
}
