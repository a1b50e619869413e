// Seeded random scenarios for differential runs (model vs kernel), and a shrinker that finds a small
// scenario still showing a disagreement. Same seed, same scenario, on every machine.

import type { LayerEntry, PropagationOp, Scenario, Step } from './types.js';

/** mulberry32: small, fast, good enough to spread choices. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Few names, so layers collide: shadowing, type changes between layers, whiteouts over lowers. */
const LAYER_PATHS = ['a', 'b', 'c', 'd', 'a/x', 'a/y', 'b/x', 'c/z', 'a/x/q'];
const MERGED_PATHS = [
  '/m/a',
  '/m/b',
  '/m/c',
  '/m/d',
  '/m/e',
  '/m/a/x',
  '/m/a/y',
  '/m/b/x',
  '/m/c/z',
  '/m/a/x/q',
  '/m/e/f',
];
const SYMLINK_TARGETS = ['x', 'a', '../a', 'a/x', 'nowhere', '.', '..'];
const MOUNT_DIRS = ['/p', '/q', '/r', '/p/s', '/p/t', '/q/s', '/r/s', '/p/s/u'];
const PROPAGATION: PropagationOp[] = ['make-shared', 'make-slave', 'make-private', 'make-unbindable'];

/**
 * Collects a scenario's steps. No step is left out: the kernel behaviours the generator once had to
 * avoid are modelled now (docs/scenarios.md).
 */
class Builder {
  constructor(readonly s: Scenario) {}
  add(step: Step): void {
    this.s.steps.push(step);
  }
}

type Pick = <T>(xs: readonly T[]) => T;

function randomLayer(r: () => number, pick: Pick, n: number): Record<string, LayerEntry> {
  const out: Record<string, LayerEntry> = {};
  const kinds = new Map<string, string>();
  const count = 2 + Math.floor(r() * 5);
  for (let i = 0; i < count; i++) {
    const p = pick(LAYER_PATHS);
    if (kinds.has(p)) continue;
    const parts = p.split('/');
    // A path under something this layer already has as a non-directory cannot exist in it.
    if (parts.some((_, k) => k > 0 && (kinds.get(parts.slice(0, k).join('/')) ?? 'dir') !== 'dir')) continue;
    const x = r();
    let e: LayerEntry;
    if (x < 0.45) e = `L${n}:${p}`;
    else if (x < 0.7) e = { type: 'dir', mode: pick([0o755, 0o700, 0o750]), opaque: r() < 0.15 };
    else if (x < 0.85) e = { type: 'symlink', target: pick(SYMLINK_TARGETS) };
    else if (x < 0.93) e = { type: 'file', content: `L${n} ${p} mode`, mode: pick([0o600, 0o755]) };
    else e = { type: 'whiteout' };
    // Children need their parents to be directories (implicitly made) in this layer.
    for (let k = 1; k < parts.length; k++) {
      const parent = parts.slice(0, k).join('/');
      if (!kinds.has(parent)) kinds.set(parent, 'dir');
    }
    kinds.set(p, typeof e === 'string' ? 'file' : e.type);
    out[p] = e;
  }
  return out;
}

function makeLayers(r: () => number, pick: Pick, s: Scenario): string[] {
  const layers = 2 + Math.floor(r() * 3);
  const lower: string[] = [];
  for (let n = 0; n < layers; n++) {
    s.layers[`/l${n}`] = randomLayer(r, pick, n);
    lower.push(`/l${n}`);
  }
  return lower;
}

function overlayPart(r: () => number, pick: Pick, b: Builder, lower: string[], length: number): void {
  const s = b.s;
  for (const step of [
    { op: 'mkdir', path: '/u', mode: 0o755 },
    { op: 'mkdir', path: '/w', mode: 0o755 },
    { op: 'mkdir', path: '/m', mode: 0o755 },
    { op: 'overlay', lower, upper: '/u', work: '/w', target: '/m' },
  ] satisfies Step[])
    b.add(step);
  for (let i = 0; i < length; i++) {
    const x = r();
    const p = pick(MERGED_PATHS);
    if (x < 0.22) b.add({ op: 'write', path: p, content: `w${i}`, append: r() < 0.3 });
    else if (x < 0.36) b.add({ op: 'delete', path: p });
    else if (x < 0.5) b.add({ op: 'mkdir', path: p, mode: pick([0o755, 0o711]) });
    else if (x < 0.62) b.add({ op: 'rmdir', path: p });
    else if (x < 0.76) b.add({ op: 'rename', from: p, to: pick(MERGED_PATHS) });
    else if (x < 0.88) b.add({ op: 'chmod', path: p, mode: pick([0o700, 0o644, 0o1777]) });
    else b.add({ op: 'symlink', target: pick(SYMLINK_TARGETS), path: p });
  }
  s.trees = ['/m', '/u'];
}

function mountPart(r: () => number, pick: Pick, b: Builder, length: number): void {
  const s = { steps: { push: (st: Step) => b.add(st) } };
  for (const d of MOUNT_DIRS) s.steps.push({ op: 'mkdir', path: d, mode: 0o755 });
  if (r() < 0.3) s.steps.push({ op: 'make-shared', target: '/', recursive: false });
  let unshares = 0;
  for (let i = 0; i < length; i++) {
    const x = r();
    const d = pick(MOUNT_DIRS);
    if (x < 0.2) s.steps.push({ op: 'mount', type: 'tmpfs', source: `t${i}`, target: d, options: [] });
    else if (x < 0.36)
      s.steps.push({
        op: 'bind',
        source: pick(MOUNT_DIRS),
        target: d,
        recursive: r() < 0.5,
        readonly: r() < 0.1,
      });
    else if (x < 0.6) s.steps.push({ op: pick(PROPAGATION), target: d, recursive: r() < 0.3 });
    else if (x < 0.7) s.steps.push({ op: 'umount', target: d, detach: r() < 0.5 });
    else if (x < 0.76) s.steps.push({ op: 'move', source: pick(MOUNT_DIRS), target: d });
    else if (x < 0.82 && unshares < 2) {
      unshares++;
      s.steps.push({
        op: 'unshare',
        ns: ['mnt'],
        propagation: pick(['unchanged', 'unchanged', 'private', 'slave'] as const),
      });
    } else s.steps.push({ op: 'mkdir', path: d, mode: 0o755 });
  }
}

/**
 * Scenario `seed`: by seed % 3 an overlay over 2-4 random lower layers with file operations on the
 * merged view, a random mount/propagation sequence (with unshares), or both, one after the other.
 */
export function generateScenario(seed: number): Scenario {
  const r = rng(seed * 2654435761);
  const pick: Pick = (xs) => xs[Math.floor(r() * xs.length)] as (typeof xs)[number];
  const s: Scenario = {
    name: `random-${seed}`,
    description: `generated, seed ${seed}`,
    layers: {},
    steps: [],
    trees: [],
    expect: {},
  };
  const kind = seed % 3;
  const lower = kind !== 1 ? makeLayers(r, pick, s) : [];
  const b = new Builder(s);
  if (kind !== 1) overlayPart(r, pick, b, lower, kind === 0 ? 14 : 8);
  if (kind !== 0) mountPart(r, pick, b, kind === 1 ? 14 : 8);
  return s;
}

/** `s` without step `i` (expectations renumbered). */
export function dropStep(s: Scenario, i: number): Scenario {
  const expect: Record<number, string> = {};
  for (const [k, v] of Object.entries(s.expect)) {
    const n = Number(k);
    if (n !== i) expect[n > i ? n - 1 : n] = v;
  }
  return { ...s, steps: s.steps.filter((_, k) => k !== i), expect };
}

/**
 * Drop steps while the scenario still fails. `stillFails` gets a batch of candidates (one per step
 * dropped) and says which still show the problem, so one batch round trip tries every step.
 */
export async function shrinkScenario(
  s: Scenario,
  stillFails: (candidates: Scenario[]) => Promise<boolean[]>,
): Promise<Scenario> {
  let cur = s;
  for (;;) {
    const cands = cur.steps.map((_, i) => dropStep(cur, i));
    if (cands.length === 0) return cur;
    const verdicts = await stillFails(cands);
    const k = verdicts.findIndex((v) => v);
    if (k < 0) return { ...cur, name: `${s.name} (shrunk)` };
    cur = cands[k] as Scenario;
  }
}
