// Random mount-table scenarios, run in the model and on the real kernel; tables and ok/failed per step
// must agree. A few fixed seeds run by default (fast); KMODEL_FUZZ_SEEDS=300 runs seeds 1..300, and
// KMODEL_FUZZ_SEED=N runs seed N alone with its steps printed.
import { describe, expect, it } from 'vitest';
import type { Propagation } from '../../shared/src/model/index.js';
import type { Step } from './real-kernel.js';
import { comparableMounts, requireRealKernel, runModel, runReal } from './real-kernel.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PATHS = ['@/d0', '@/d1', '@/d2', '@/d0/s0', '@/d0/s1', '@/d1/s0', '@/d2/s0', '@/d0/s0/t', '@/d1/s0/t'];
const TYPES: Propagation[] = ['shared', 'slave', 'private', 'unbindable'];

export function scenario(seed: number, length = 14): Step[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const steps: Step[] = [{ op: 'tmpfs', target: '@' }, ...PATHS.map((path): Step => ({ op: 'mkdir', path }))];
  for (let i = 0; i < length; i++) {
    const x = r();
    if (x < 0.2) steps.push({ op: 'tmpfs', target: pick(PATHS) });
    else if (x < 0.38) steps.push({ op: 'bind', source: pick(PATHS), target: pick(PATHS), rec: r() < 0.5 });
    else if (x < 0.62) steps.push({ op: 'make', target: pick(PATHS), type: pick(TYPES), rec: r() < 0.3 });
    else if (x < 0.72) steps.push({ op: 'umount', target: pick(PATHS), lazy: r() < 0.5 });
    else if (x < 0.78) steps.push({ op: 'move', source: pick(PATHS), target: pick(PATHS) });
    else if (x < 0.86) {
      const u: Step[] = [];
      for (let j = 0; j < 2; j++) {
        u.push(
          r() < 0.5
            ? { op: 'tmpfs', target: pick(PATHS) }
            : { op: 'make', target: pick(PATHS), type: pick(TYPES) },
        );
      }
      steps.push({ op: 'unshare', steps: u });
    } else steps.push({ op: 'mkdir', path: pick(PATHS) });
  }
  return steps;
}

const only = process.env.KMODEL_FUZZ_SEED;
const count = Number(process.env.KMODEL_FUZZ_SEEDS ?? '4');
const seeds = only ? [Number(only)] : Array.from({ length: count }, (_, i) => i + 1);

describe('random mount scenarios: model vs real kernel', () => {
  for (const seed of seeds) {
    it(`seed ${seed}`, async () => {
      requireRealKernel();
      const steps = scenario(seed);
      const model = runModel(steps);
      const real = await runReal(steps);
      if (only)
        steps.forEach((s, i) => console.log(i, JSON.stringify(s), model.outcomes[i], real.outcomes[i]));
      const okOrNot = (o: string[]) => o.map((x) => (x === 'ok' ? 'ok' : 'failed'));
      expect(okOrNot(model.outcomes)).toEqual(okOrNot(real.outcomes));
      expect(comparableMounts(model.mountinfo, '/T')).toBe(comparableMounts(real.mountinfo, real.dir));
    });
  }
});
