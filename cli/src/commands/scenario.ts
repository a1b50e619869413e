// strata scenario run|compare|fuzz: the kernel model and the real kernel side by side
// (docs/scenarios.md). The native runner loads on demand: `--backend model` works anywhere, unprivileged.
import { readFileSync } from 'node:fs';
import { UsageError } from '../../../shared/src/errors.js';
import type { KernelRelease } from '../../../shared/src/model/index.js';
import type { Scenario, ScenarioResult } from '../../../shared/src/scenario/index.js';
import {
  ScenarioError,
  describeStep,
  diffResults,
  parseScenarioText,
  renderResult,
  runOnModel,
  runOnModelRaw,
  scenarioToJson,
} from '../../../shared/src/scenario/index.js';
import type { Command } from '../context.js';
import { bool, int, str } from '../flags.js';
import type { KernelBackend, ScenarioBackend } from './scenario-runners.js';
import { ScenarioBackends, backendList, releaseFlag } from './scenario-runners.js';

function load(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  try {
    return parseScenarioText(text, file);
  } catch (err) {
    if (err instanceof ScenarioError) throw new UsageError(err.message);
    throw err;
  }
}

/** Steps whose outcome differs from the scenario's "expect", as messages. */
function unmet(s: Scenario, r: ScenarioResult, backend: string): string[] {
  return Object.entries(s.expect)
    .filter(([i, e]) => r.outcomes[Number(i)] !== e)
    .map(
      ([i, e]) =>
        `${s.name}: step ${i} expected ${e}, ${backend} gave ${r.outcomes[Number(i)] ?? '(not run)'}`,
    );
}

export const scenarioCommand: Command = {
  name: 'scenario',
  usage: 'scenario COMMAND',
  description:
    'Run kernel scenarios on the model and real kernels\n\nCommands:\n' +
    '  run FILE             Print the normalised result of a scenario on one backend\n' +
    '  compare FILE...      Run on several backends; print the differences, exit 1 if any\n' +
    '  fuzz                 Generated scenarios (--seed, --count), compared across backends',
  flags: [
    { name: 'backend', type: 'string', help: 'run: model, native or emu (default model)' },
    {
      name: 'backends',
      type: 'string',
      help: 'compare, fuzz: comma-separated from model, native, emu (default model,native)',
    },
    { name: 'kernel', type: 'string', help: 'run (model): answer as Linux 6.18 (default) or 6.1' },
    { name: 'json', type: 'bool', help: 'run: print the result as JSON' },
    {
      name: 'dump',
      type: 'bool',
      help: "run (model): then the last process's mount table and each overlay's layers, file origins, whiteouts",
    },
    { name: 'seed', type: 'int', help: 'fuzz: first seed (default 1)' },
    { name: 'count', type: 'int', help: 'fuzz: number of scenarios (default 100)' },
  ],
  async run(ctx, p) {
    const [sub, ...files] = p.args;
    const backends = new ScenarioBackends(ctx.root);
    try {
      switch (sub) {
        case 'run': {
          if (files.length !== 1)
            throw new UsageError('"strata scenario run" requires exactly 1 argument (a scenario file).');
          const s = load(files[0] as string);
          const list = backendList(str(p, 'backend') ?? 'model');
          const [backend] = list;
          if (!backend || list.length !== 1) throw new UsageError('--backend: expected model, native or emu');
          const release = releaseFlag(str(p, 'kernel'));
          if (release && backend !== 'model')
            throw new UsageError('--kernel: only the model answers as a chosen kernel (use --backend model)');
          if (bool(p, 'dump') && backend !== 'model')
            throw new UsageError('--dump: only the model can show its layers (use --backend model)');
          const [r] = await backends.run(backend, [s], release);
          if (!r) return 1;
          ctx.out(
            bool(p, 'json') ? JSON.stringify(r, null, 2) + '\n' : renderResult(r, s.steps.map(describeStep)),
          );
          if (bool(p, 'dump')) {
            const { dumpContainer, renderDump } = await import('../../../shared/src/model-backend/dump.js');
            const last = runOnModelRaw(s, release).processes.at(-1);
            if (last) ctx.out(renderDump(dumpContainer(last)));
          }
          const bad = unmet(s, r, backend);
          for (const m of bad) ctx.err(`${m}\n`);
          return bad.length > 0 ? 1 : 0;
        }
        case 'compare': {
          if (files.length === 0)
            throw new UsageError('"strata scenario compare" requires at least 1 argument.');
          const scenarios = files.map(load);
          const list = backendList(str(p, 'backends') ?? 'model,native');
          return await compare(ctx, backends, scenarios, list, false);
        }
        case 'fuzz': {
          const { generateScenario } = await import('../../../shared/src/scenario/random.js');
          const seed = int(p, 'seed') ?? 1;
          const count = int(p, 'count') ?? 100;
          const scenarios = Array.from({ length: count }, (_, i) => generateScenario(seed + i));
          const list = backendList(str(p, 'backends') ?? 'model,native');
          return await compare(ctx, backends, scenarios, list, true);
        }
        default:
          throw new UsageError(
            `strata scenario: unknown command '${sub ?? ''}'\nSee 'strata scenario --help'.`,
          );
      }
    } finally {
      await backends.close();
    }
  },
};

const isKernel = (b: ScenarioBackend): b is KernelBackend => b !== 'model';

/**
 * Each backend compared with the first. The model answers as the kernel it is compared with (Linux
 * 6.1 for the emu guest, 6.18 for this machine): a kernel difference between releases is modelled,
 * and listed in docs/scenarios.md, not hidden.
 */
async function compare(
  ctx: { out(t: string): void },
  runners: ScenarioBackends,
  scenarios: Scenario[],
  backends: ScenarioBackend[],
  shrinkFailures: boolean,
): Promise<number> {
  if (backends.length < 2) throw new UsageError('--backends: name at least two backends to compare');
  const [first] = backends as [ScenarioBackend, ...ScenarioBackend[]];
  const kernels = backends.filter(isKernel);
  // The model's release for each pair: that of the kernel on the other side.
  const releaseFor = new Map<ScenarioBackend, KernelRelease>();
  for (const b of backends) releaseFor.set(b, await runners.releaseOf(b === 'model' ? first : b));
  if (backends.includes('model') && kernels.length > 0) {
    const as = await Promise.all(
      kernels.map(async (k) => `Linux ${await runners.releaseOf(k)} for ${k} (${await runners.unameOf(k)})`),
    );
    ctx.out(`model answers as ${as.join(', ')}\n`);
  }
  const kernelResults = new Map(
    await Promise.all(kernels.map(async (k) => [k, await runners.run(k, scenarios)] as const)),
  );
  const modelResults = new Map<KernelRelease, ScenarioResult[]>();
  const modelAs = (release: KernelRelease): ScenarioResult[] => {
    let r = modelResults.get(release);
    if (!r) modelResults.set(release, (r = scenarios.map((s) => runOnModel(s, release))));
    return r;
  };
  /** `b`'s results; the model's as the kernel it is paired with (`pair`). */
  const resultsOf = (b: ScenarioBackend, pair: ScenarioBackend): ScenarioResult[] =>
    isKernel(b) ? (kernelResults.get(b) as ScenarioResult[]) : modelAs(releaseFor.get(pair) as KernelRelease);
  let failed = 0;
  for (let i = 0; i < scenarios.length; i++) {
    const s = scenarios[i] as Scenario;
    const diffs: string[] = [];
    for (const b of backends.slice(1)) {
      const a = resultsOf(first, b)[i] as ScenarioResult;
      diffs.push(...diffResults(a, resultsOf(b, first)[i] as ScenarioResult, [first, b]));
    }
    for (const k of kernels)
      diffs.push(...unmet(s, (kernelResults.get(k) as ScenarioResult[])[i] as ScenarioResult, k));
    // The model's expectations, as each kernel it was paired with.
    for (const [release, res] of modelResults)
      diffs.push(
        ...unmet(s, res[i] as ScenarioResult, modelResults.size > 1 ? `model (Linux ${release})` : 'model'),
      );
    if (diffs.length === 0) {
      ctx.out(`${s.name}: agree (${backends.join(', ')})\n`);
      continue;
    }
    failed++;
    ctx.out(`${s.name}: DIFFER\n${diffs.map((d) => `  ${d}\n`).join('')}`);
    if (!shrinkFailures || !backends.includes('model')) continue;
    // Shrink against the first kernel the model disagrees with.
    const k = kernels.find(
      (x) =>
        diffResults(
          modelAs(releaseFor.get(x) as KernelRelease)[i] as ScenarioResult,
          resultsOf(x, x)[i] as ScenarioResult,
          ['model', x],
        ).length > 0,
    );
    if (!k) continue;
    const release = releaseFor.get(k) as KernelRelease;
    const { shrinkScenario } = await import('../../../shared/src/scenario/random.js');
    const small = await shrinkScenario(s, async (cands) => {
      const real = await runners.tryRun(k, cands);
      return cands.map((c, n) => {
        const r = real[n];
        return (
          !(r instanceof Error) &&
          r !== undefined &&
          diffResults(runOnModel(c, release), r, ['model', k]).length > 0
        );
      });
    });
    ctx.out(
      `  minimal reproducer (model as Linux ${release} vs ${k}):\n${JSON.stringify(scenarioToJson(small), null, 2)}\n`,
    );
  }
  ctx.out(`${scenarios.length - failed}/${scenarios.length} agree\n`);
  return failed > 0 ? 1 : 0;
}
