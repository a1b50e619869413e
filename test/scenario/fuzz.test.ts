// Generated scenarios (shared/src/scenario/random.ts) on the model and the real kernel: zero
// disagreements over SCENARIO_FUZZ_COUNT seeds (default 500) from SCENARIO_FUZZ_SEED (default 1).
// A disagreement is shrunk (steps dropped while it persists) and printed as a scenario file.
import { describe, expect, it } from 'vitest';
import { release } from 'node:os';
import { modelRelease } from '../../shared/src/scenario/index.js';
import { generateScenario, shrinkScenario } from '../../shared/src/scenario/random.js';
import { runOnKernelBatch } from '../../backend-native/src/scenario-native.js';
import { disagreements } from './checks.js';

const COUNT = Number(process.env.SCENARIO_FUZZ_COUNT ?? 500);
const FIRST = Number(process.env.SCENARIO_FUZZ_SEED ?? 1);

describe('generated scenarios: model vs real kernel', () => {
  it('generation is deterministic and covers layers, file operations and mount sequences', () => {
    expect(generateScenario(7)).toEqual(generateScenario(7));
    const ops = new Set(
      Array.from({ length: 30 }, (_, i) => generateScenario(i + 1)).flatMap((s) => s.steps.map((x) => x.op)),
    );
    for (const op of [
      'overlay',
      'write',
      'delete',
      'rename',
      'mkdir',
      'rmdir',
      'chmod',
      'symlink',
      'mount',
      'bind',
      'umount',
      'unshare',
      'make-shared',
      'make-slave',
    ])
      expect(ops).toContain(op);
    const layers = Object.keys(generateScenario(3).layers).length;
    expect(layers).toBeGreaterThanOrEqual(2);
    expect(layers).toBeLessThanOrEqual(4);
  });

  it('the shrinker keeps only the steps a failure needs', async () => {
    const s = generateScenario(4);
    const culprit = s.steps.length - 3;
    const op = s.steps[culprit];
    let rounds = 0;
    const small = await shrinkScenario(s, async (cands) => {
      rounds++;
      return cands.map((c) => c.steps.includes(op as (typeof c.steps)[number]));
    });
    expect(small.steps).toEqual([op]);
    expect(rounds).toBe(s.steps.length);
  });

  it(`${COUNT} seeds from ${FIRST}: zero disagreements`, { timeout: 600_000 }, async () => {
    const scenarios = Array.from({ length: COUNT }, (_, i) => generateScenario(FIRST + i));
    const started = Date.now();
    const real = await runOnKernelBatch(scenarios);
    console.log(`${COUNT} scenarios on the real kernel in ${Date.now() - started} ms`);
    const failures = await disagreements(
      scenarios,
      real,
      runOnKernelBatch,
      modelRelease(release()),
      'native',
    );
    expect(failures.join('\n\n')).toBe('');
  });
});
