// What the scenario tests check on every kernel runner: a scenario's own expectations, and a batch's
// disagreements with the model, each shrunk to a minimal scenario that reproduces it.
import type { KernelRelease } from '../../shared/src/model/index.js';
import { diffResults, runOnModel, scenarioToJson } from '../../shared/src/scenario/index.js';
import type { Scenario, ScenarioResult } from '../../shared/src/scenario/index.js';
import { shrinkScenario } from '../../shared/src/scenario/random.js';

export type KernelRun = (scenarios: Scenario[]) => Promise<Array<ScenarioResult | Error>>;

/** Steps whose outcome is not the scenario's "expect". */
export function unmet(s: Scenario, r: ScenarioResult): string[] {
  return Object.entries(s.expect)
    .filter(([i, e]) => r.outcomes[Number(i)] !== e)
    .map(([i, e]) => `step ${i}: expected ${e}, got ${r.outcomes[Number(i)]}`);
}

/**
 * One message per scenario of `batch` that did not run or disagrees with the model answering as
 * `release`; a disagreement comes with its minimal reproducing scenario (shrunk on `run`).
 */
export async function disagreements(
  batch: readonly Scenario[],
  results: ReadonlyArray<ScenarioResult | Error>,
  run: KernelRun,
  release: KernelRelease,
  label: string,
): Promise<string[]> {
  const differs = (s: Scenario, r: ScenarioResult | Error | undefined): string[] | null =>
    r === undefined || r instanceof Error ? null : diffResults(runOnModel(s, release), r, ['model', label]);
  const failures: string[] = [];
  for (let i = 0; i < batch.length; i++) {
    const s = batch[i] as Scenario;
    const r = results[i];
    if (r === undefined || r instanceof Error) {
      failures.push(`${s.name}: ${r?.message ?? 'no result'}`);
      continue;
    }
    const d = differs(s, r) ?? [];
    if (d.length === 0) continue;
    const small = await shrinkScenario(s, async (cands) => {
      const real = await run(cands);
      return cands.map((c, k) => (differs(c, real[k])?.length ?? 0) > 0);
    });
    const why = differs(small, (await run([small]))[0]) ?? d;
    failures.push(
      `${s.name}:\n${why.join('\n')}\nminimal scenario:\n${JSON.stringify(scenarioToJson(small), null, 2)}`,
    );
  }
  return failures;
}
