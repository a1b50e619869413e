// Random mount-table scenarios, run in the model and on the real kernel; tables and ok/failed per step
// must agree. A few fixed seeds run by default (fast). KMODEL_FUZZ_SEEDS=300 (or "301-600") and
// KMODEL_FUZZ_OVERLAY_SEEDS=... run more; KMODEL_FUZZ_SEED=N runs mount seed N alone, printing its steps.
import { describe, expect, it } from 'vitest';
import type { Propagation } from '../../shared/src/model/index.js';
import { OPAQUE_XATTR, snapshotTree } from '../../shared/src/model/index.js';
import type { Step } from './real-kernel.js';
import { comparableMounts, hostTree, requireRealKernel, runModel, runReal } from './real-kernel.js';
import { rng } from '../../shared/src/scenario/random.js';

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
    else if (x < 0.76) steps.push({ op: 'move', source: pick(PATHS), target: pick(PATHS) });
    else if (x < 0.79)
      steps.push({ op: 'remount', target: pick(PATHS), options: r() < 0.5 ? ['bind', 'ro'] : ['bind'] });
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

/** "N" means seeds 1..N, "A-B" seeds A..B. */
function seedRange(spec: string): number[] {
  const [a, b] = spec.includes('-') ? spec.split('-').map(Number) : [1, Number(spec)];
  const out: number[] = [];
  for (let i = a ?? 1; i <= (b ?? 0); i++) out.push(i);
  return out;
}

const only = process.env.KMODEL_FUZZ_SEED;
const seeds = only ? [Number(only)] : seedRange(process.env.KMODEL_FUZZ_SEEDS ?? '4');

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

const LAYERS: Step[] = [
  ...['@/l1/a', '@/l1/b', '@/l2/a', '@/l2/c', '@/l2/d/e', '@/u', '@/w', '@/m'].map((path): Step => ({
    op: 'mkdir',
    path,
  })),
  { op: 'write', path: '@/l1/a/x', content: '1x' },
  { op: 'write', path: '@/l1/b/x', content: '1bx' },
  { op: 'write', path: '@/l1/c', content: '1c' }, // a file over l2's directory c
  { op: 'write', path: '@/l2/a/x', content: '2x' },
  { op: 'write', path: '@/l2/a/y', content: '2y' },
  { op: 'write', path: '@/l2/c/z', content: '2cz' },
  { op: 'write', path: '@/l2/d/e/f', content: '2f' },
  { op: 'overlay', target: '@/m', lower: ['@/l1', '@/l2'], upper: '@/u', work: '@/w' },
];
const OV_PATHS = [
  '@/m/a',
  '@/m/a/x',
  '@/m/a/y',
  '@/m/b',
  '@/m/b/x',
  '@/m/c',
  '@/m/d',
  '@/m/d/e',
  '@/m/d/e/f',
  '@/m/n',
];

export function overlayScenario(seed: number, length = 12): Step[] {
  const r = rng(seed * 7919);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const steps: Step[] = [...LAYERS];
  for (let i = 0; i < length; i++) {
    const x = r();
    const p = pick(OV_PATHS);
    if (x < 0.2) steps.push({ op: 'write', path: p, content: `w${i}` });
    else if (x < 0.35) steps.push({ op: 'rm', path: p });
    else if (x < 0.5) steps.push({ op: 'mkdir', path: p });
    else if (x < 0.65) steps.push({ op: 'rmdir', path: p });
    else if (x < 0.8) steps.push({ op: 'rename', from: p, to: pick(OV_PATHS) });
    else if (x < 0.9) steps.push({ op: 'chmod', path: p, mode: 0o700 });
    else steps.push({ op: 'symlink', target: 'a/x', path: p });
  }
  return steps;
}

const ovSeeds = seedRange(process.env.KMODEL_FUZZ_OVERLAY_SEEDS ?? '3');

describe('random overlay file operations: model vs real kernel', () => {
  for (const seed of ovSeeds) {
    it(`overlay seed ${seed}`, async () => {
      requireRealKernel();
      const steps = overlayScenario(seed);
      const model = runModel(steps, ['@/m']);
      const real = await runReal(steps, { trees: ['@/m'], inspect: (dir) => hostTree(`${dir}/u`) });
      const okOrNot = (o: string[]) => o.map((x) => (x === 'ok' ? 'ok' : 'failed'));
      expect(okOrNot(model.outcomes)).toEqual(okOrNot(real.outcomes));
      expect(model.trees['@/m']).toEqual(real.trees['@/m']);
      expect(snapshotTree(model.host, '/T/u', { xattrs: [OPAQUE_XATTR] })).toEqual(real.inspected);
    });
  }
});
