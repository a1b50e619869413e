// The backends of `strata scenario`: the model (in process) and two real kernels, this machine's
// (native) and the emu guest's, loaded on demand. A kernel says which release it is, so that the
// model can answer as that kernel (docs/scenarios.md, "Linux 6.1 and Linux 6.18"). The emu batches
// go to the store's emu daemon (cli/src/emu-daemon.ts), whose guest is restored once for all
// commands; with STRATA_EMU_DAEMON=0 a command restores a guest of its own.
import { release as hostRelease } from 'node:os';
import { StrataError, UsageError } from '../../../shared/src/errors.js';
import type { KernelRelease } from '../../../shared/src/model/index.js';
import type { Scenario, ScenarioResult } from '../../../shared/src/scenario/index.js';
import { modelRelease, normaliseResult, runOnModel } from '../../../shared/src/scenario/index.js';

export const BACKENDS = ['model', 'native', 'emu'] as const;
export type ScenarioBackend = (typeof BACKENDS)[number];
export type KernelBackend = Exclude<ScenarioBackend, 'model'>;
export const RELEASES: readonly KernelRelease[] = ['6.18', '6.1'];

export function backendList(text: string): ScenarioBackend[] {
  const names = text.split(',').filter(Boolean);
  for (const n of names) {
    if (!BACKENDS.includes(n as ScenarioBackend))
      throw new UsageError(`unknown scenario backend '${n}': expected ${BACKENDS.join(', ')}`);
  }
  if (new Set(names).size !== names.length) throw new UsageError(`--backends: '${text}' names one twice`);
  return names as ScenarioBackend[];
}

export function releaseFlag(text: string | null | undefined): KernelRelease | undefined {
  if (text === undefined || text === null) return undefined;
  if (!RELEASES.includes(text as KernelRelease))
    throw new UsageError(`--kernel: unknown release '${text}': expected ${RELEASES.join(' or ')}`);
  return text as KernelRelease;
}

interface KernelRunner {
  /** `uname -r` of the kernel the scenarios run on. */
  release(): Promise<string>;
  run(scenarios: readonly Scenario[]): Promise<Array<ScenarioResult | Error>>;
  close(): Promise<void>;
}

async function kernelRunner(b: KernelBackend, root: string): Promise<KernelRunner> {
  if (b === 'native') {
    const { runOnKernelBatch } = await import('../../../backend-native/src/scenario-native.js');
    return { release: () => Promise.resolve(hostRelease()), run: runOnKernelBatch, close: async () => {} };
  }
  if (process.env.STRATA_EMU_DAEMON !== '0') {
    const daemon = await import('../emu-daemon.js');
    const start = daemon.serveArgv(root);
    let release: Promise<string> | null = null;
    return {
      release: () => (release ??= daemon.guestRelease(root, start)),
      run: async (scenarios) =>
        (await daemon.runScenarios(root, scenarios, start)).map((r, i) =>
          r instanceof Error ? r : normaliseResult((scenarios[i] as Scenario).name, r),
        ),
      close: async () => {}, // the daemon keeps its guest for the next command
    };
  }
  const { EmuScenarioRunner } = await import('../../../backend-emu/src/emu-scenario.js');
  return new EmuScenarioRunner();
}

/** The backends of one command: each kernel runner made once (one emu guest), closed at the end. */
export class ScenarioBackends {
  private readonly kernels = new Map<KernelBackend, Promise<KernelRunner>>();

  /** `root`: the store whose emu daemon runs the emu batches. */
  constructor(private readonly root: string) {}

  private kernel(b: KernelBackend): Promise<KernelRunner> {
    let k = this.kernels.get(b);
    if (!k) this.kernels.set(b, (k = kernelRunner(b, this.root)));
    return k;
  }

  /** The model release that answers as backend `b`'s kernel (`model` itself: 6.18 unless given). */
  async releaseOf(b: ScenarioBackend, model?: KernelRelease): Promise<KernelRelease> {
    if (b === 'model') return model ?? '6.18';
    return modelRelease(await (await this.kernel(b)).release());
  }

  /** `uname -r` of a kernel backend. */
  async unameOf(b: KernelBackend): Promise<string> {
    return (await this.kernel(b)).release();
  }

  /** Each scenario's result on `b` (the model as `release`); a scenario that cannot run is an error. */
  async run(
    b: ScenarioBackend,
    scenarios: readonly Scenario[],
    release?: KernelRelease,
  ): Promise<ScenarioResult[]> {
    if (b === 'model') return scenarios.map((s) => runOnModel(s, release));
    const out = await (await this.kernel(b)).run(scenarios);
    return out.map((r) => {
      if (r instanceof Error) throw new StrataError(r.message);
      return r;
    });
  }

  /** Results with unrunnable scenarios as errors (the shrinker's candidates may not all run). */
  async tryRun(b: KernelBackend, scenarios: readonly Scenario[]): Promise<Array<ScenarioResult | Error>> {
    return (await this.kernel(b)).run(scenarios);
  }

  async close(): Promise<void> {
    for (const k of this.kernels.values()) await (await k.catch(() => null))?.close();
    this.kernels.clear();
  }
}
