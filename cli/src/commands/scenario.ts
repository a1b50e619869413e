// strata scenario run|compare|fuzz: the kernel model and the real kernel side by side
// (docs/scenarios.md). The native runner loads on demand: `--backend model` works anywhere, unprivileged.
import { readFileSync } from 'node:fs';
import { StrataError, UsageError } from '../../../shared/src/errors.js';
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

const BACKENDS = ['model', 'native'] as const;
type ScenarioBackend = (typeof BACKENDS)[number];

function backendList(text: string): ScenarioBackend[] {
  const names = text.split(',').filter(Boolean);
  for (const n of names) {
    if (!BACKENDS.includes(n as ScenarioBackend))
      throw new UsageError(`unknown scenario backend '${n}': expected ${BACKENDS.join(', ')}`);
  }
  return names as ScenarioBackend[];
}

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

/** Each scenario's result on one backend; the native runner does them all in one batch. */
async function runAll(backend: ScenarioBackend, scenarios: readonly Scenario[]): Promise<ScenarioResult[]> {
  if (backend === 'model') return scenarios.map((s) => runOnModel(s));
  const { runOnKernelBatch } = await import('../../../backend-native/src/scenario-native.js');
  const out = await runOnKernelBatch(scenarios);
  return out.map((r) => {
    if (r instanceof Error) throw new StrataError(r.message);
    return r;
  });
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
    'Run kernel scenarios on the model and the real kernel\n\nCommands:\n' +
    '  run FILE             Print the normalised result of a scenario on one backend\n' +
    '  compare FILE...      Run on several backends; print the differences, exit 1 if any\n' +
    '  fuzz                 Generated scenarios (--seed, --count), compared across backends',
  flags: [
    { name: 'backend', type: 'string', help: 'run: model or native (default model)' },
    { name: 'backends', type: 'string', help: 'compare, fuzz: comma-separated (default model,native)' },
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
    switch (sub) {
      case 'run': {
        if (files.length !== 1)
          throw new UsageError('"strata scenario run" requires exactly 1 argument (a scenario file).');
        const s = load(files[0] as string);
        const [backend] = backendList(str(p, 'backend') ?? 'model');
        if (!backend) throw new UsageError('--backend: expected model or native');
        if (bool(p, 'dump') && backend !== 'model')
          throw new UsageError('--dump: only the model can show its layers (use --backend model)');
        const [r] = await runAll(backend, [s]);
        if (!r) return 1;
        ctx.out(
          bool(p, 'json') ? JSON.stringify(r, null, 2) + '\n' : renderResult(r, s.steps.map(describeStep)),
        );
        if (bool(p, 'dump')) {
          const { dumpContainer, renderDump } = await import('../../../shared/src/model-backend/dump.js');
          const last = runOnModelRaw(s).processes.at(-1);
          if (last) ctx.out(renderDump(dumpContainer(last)));
        }
        const bad = unmet(s, r, backend);
        for (const m of bad) ctx.err(`${s.name}: ${m}\n`);
        return bad.length > 0 ? 1 : 0;
      }
      case 'compare': {
        if (files.length === 0)
          throw new UsageError('"strata scenario compare" requires at least 1 argument.');
        const scenarios = files.map(load);
        return compare(ctx, scenarios, backendList(str(p, 'backends') ?? 'model,native'), false);
      }
      case 'fuzz': {
        const { generateScenario } = await import('../../../shared/src/scenario/random.js');
        const seed = int(p, 'seed') ?? 1;
        const count = int(p, 'count') ?? 100;
        const scenarios = Array.from({ length: count }, (_, i) => generateScenario(seed + i));
        return compare(ctx, scenarios, backendList(str(p, 'backends') ?? 'model,native'), true);
      }
      default:
        throw new UsageError(
          `strata scenario: unknown command '${sub ?? ''}'\nSee 'strata scenario --help'.`,
        );
    }
  },
};

async function compare(
  ctx: { out(t: string): void },
  scenarios: Scenario[],
  backends: ScenarioBackend[],
  shrinkFailures: boolean,
): Promise<number> {
  if (backends.length < 2) throw new UsageError('--backends: name at least two backends to compare');
  const results = await Promise.all(backends.map((b) => runAll(b, scenarios)));
  let failed = 0;
  for (let i = 0; i < scenarios.length; i++) {
    const s = scenarios[i] as Scenario;
    const diffs: string[] = [];
    for (let b = 1; b < backends.length; b++) {
      const d = diffResults(
        (results[0] as ScenarioResult[])[i] as ScenarioResult,
        (results[b] as ScenarioResult[])[i] as ScenarioResult,
        [backends[0] as string, backends[b] as string],
      );
      diffs.push(...d);
    }
    backends.forEach((b, k) =>
      diffs.push(...unmet(s, (results[k] as ScenarioResult[])[i] as ScenarioResult, b)),
    );
    if (diffs.length === 0) {
      ctx.out(`${s.name}: agree (${backends.join(', ')})\n`);
      continue;
    }
    failed++;
    ctx.out(`${s.name}: DIFFER\n${diffs.map((d) => `  ${d}\n`).join('')}`);
    if (shrinkFailures && backends.includes('native') && backends.includes('model')) {
      const { shrinkScenario } = await import('../../../shared/src/scenario/random.js');
      const { runOnKernelBatch } = await import('../../../backend-native/src/scenario-native.js');
      const small = await shrinkScenario(s, async (cands) => {
        const real = await runOnKernelBatch(cands);
        return cands.map((c, k) => {
          const r = real[k];
          return (
            !(r instanceof Error) &&
            r !== undefined &&
            diffResults(runOnModel(c), r, ['model', 'native']).length > 0
          );
        });
      });
      ctx.out(`  minimal reproducer:\n${JSON.stringify(scenarioToJson(small), null, 2)}\n`);
    }
  }
  ctx.out(`${scenarios.length - failed}/${scenarios.length} agree\n`);
  return failed > 0 ? 1 : 0;
}
