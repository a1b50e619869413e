// The normalised result of a scenario, the same whichever runner produced it: each step's outcome,
// the mount table of each namespace involved (normalised together, so a peer group shared by two
// namespaces keeps one number), and listings of the requested trees (type, mode, size, content hash,
// whiteouts, the opaque mark). Two results are equal exactly when the runners agree.

import type { MountInfo } from '../mount/mountinfo.js';
import { normaliseMountinfo, renderMountinfo } from '../mount/mountinfo.js';

/** One tree entry as a runner reports it, before rendering. */
export interface RawTreeEntry {
  /** "/"-prefixed, relative to the listed directory. */
  path: string;
  kind: 'dir' | 'file' | 'symlink' | 'chardev';
  mode: number;
  /** Bytes (files: content, symlinks: target length). */
  size?: number;
  sha256?: string;
  target?: string;
  /** "major:minor" for character devices. */
  rdev?: string;
  /** trusted.overlay.opaque is "y" (directories in an upper or lower layer). */
  opaque?: boolean;
}

export interface NamespaceResult {
  /** Index of the step (an unshare) whose process this is; null for the scenario's first process. */
  createdBy: number | null;
  /** Normalised /proc/PID/mountinfo text of that process, at the end of the scenario. */
  mountinfo: string;
}

export interface ScenarioResult {
  scenario: string;
  /** "ok" or the errno name, per step. */
  outcomes: string[];
  namespaces: NamespaceResult[];
  /** Listing lines per requested directory, or the errno name when it could not be listed. */
  trees: Record<string, string[] | string>;
}

/** What a runner hands over before normalising. */
export interface RawResult {
  outcomes: string[];
  /** Per process of the chain, outermost first. */
  tables: Array<{ createdBy: number | null; entries: MountInfo[] }>;
  trees: Record<string, RawTreeEntry[] | string>;
}

const HASH_CHARS = 16;

/** "d 0755 /a opaque", "f 0644 /a/x 3 2cf24dba5fb0a30e", "l 0777 /l -> x", "w /gone", "c 0644 /c 1:3". */
export function renderTreeEntry(e: RawTreeEntry): string {
  const mode = e.mode.toString(8).padStart(4, '0');
  switch (e.kind) {
    case 'dir':
      return `d ${mode} ${e.path}${e.opaque ? ' opaque' : ''}`;
    case 'file':
      return `f ${mode} ${e.path} ${e.size ?? 0} ${(e.sha256 ?? '').slice(0, HASH_CHARS)}`;
    case 'symlink':
      return `l ${mode} ${e.path} -> ${e.target ?? ''}`;
    case 'chardev':
      // A whiteout's mode is whatever created it; only its being there matters to overlayfs.
      return e.rdev === '0:0' ? `w ${e.path}` : `c ${mode} ${e.path} ${e.rdev ?? ''}`;
  }
}

export function normaliseResult(scenario: string, raw: RawResult): ScenarioResult {
  const all = raw.tables.flatMap((t) => t.entries);
  const norm = normaliseMountinfo(all);
  let at = 0;
  const namespaces = raw.tables.map((t) => {
    const part = norm.slice(at, at + t.entries.length);
    at += t.entries.length;
    return { createdBy: t.createdBy, mountinfo: renderMountinfo(part) };
  });
  const trees: ScenarioResult['trees'] = {};
  for (const [dir, entries] of Object.entries(raw.trees)) {
    trees[dir] =
      typeof entries === 'string'
        ? entries
        : [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map(renderTreeEntry);
  }
  return { scenario, outcomes: raw.outcomes, namespaces, trees };
}

/** The result as text, for `strata scenario run`. `steps` labels the outcomes. */
export function renderResult(r: ScenarioResult, steps: readonly string[] = []): string {
  const out: string[] = [`scenario ${r.scenario}`, 'steps:'];
  r.outcomes.forEach((o, i) =>
    out.push(`  ${String(i).padStart(2)} ${o.padEnd(9)} ${steps[i] ?? ''}`.trimEnd()),
  );
  r.namespaces.forEach((ns, i) => {
    out.push(
      `namespace ${i} (${ns.createdBy === null ? 'first process' : `step ${ns.createdBy}`}): mountinfo`,
    );
    for (const l of ns.mountinfo.split('\n')) if (l) out.push(`  ${l}`);
  });
  for (const [dir, t] of Object.entries(r.trees)) {
    out.push(`tree ${dir}${typeof t === 'string' ? `: ${t}` : ''}`);
    if (typeof t !== 'string') for (const l of t) out.push(`  ${l}`);
  }
  return out.join('\n') + '\n';
}

/** Differences between two results, one readable line each; empty when they agree. */
export function diffResults(a: ScenarioResult, b: ScenarioResult, names: [string, string]): string[] {
  const [na, nb] = names;
  const out: string[] = [];
  const n = Math.max(a.outcomes.length, b.outcomes.length);
  for (let i = 0; i < n; i++) {
    if (a.outcomes[i] !== b.outcomes[i])
      out.push(`step ${i}: ${na} ${a.outcomes[i] ?? '(not run)'}, ${nb} ${b.outcomes[i] ?? '(not run)'}`);
  }
  if (a.namespaces.length !== b.namespaces.length)
    out.push(`namespaces: ${na} has ${a.namespaces.length}, ${nb} has ${b.namespaces.length}`);
  a.namespaces.forEach((ns, i) => {
    const other = b.namespaces[i];
    if (!other || other.mountinfo === ns.mountinfo) return;
    out.push(
      `namespace ${i} mountinfo:`,
      ...lineDiff(ns.mountinfo.split('\n'), other.mountinfo.split('\n'), names),
    );
  });
  for (const dir of new Set([...Object.keys(a.trees), ...Object.keys(b.trees)])) {
    const ta = a.trees[dir] ?? '(not listed)';
    const tb = b.trees[dir] ?? '(not listed)';
    if (typeof ta === 'string' || typeof tb === 'string') {
      if (ta !== tb) out.push(`tree ${dir}: ${na} ${String(ta)}, ${nb} ${String(tb)}`);
      continue;
    }
    if (ta.join('\n') !== tb.join('\n')) out.push(`tree ${dir}:`, ...lineDiff(ta, tb, names));
  }
  return out;
}

/** Lines only in one side, "- " for the first, "+ " for the second (order-aware enough for tables). */
function lineDiff(a: readonly string[], b: readonly string[], names: [string, string]): string[] {
  const out: string[] = [];
  const inB = new Set(b);
  const inA = new Set(a);
  for (const l of a) if (l && !inB.has(l)) out.push(`  - ${names[0]}: ${l}`);
  for (const l of b) if (l && !inA.has(l)) out.push(`  + ${names[1]}: ${l}`);
  if (out.length === 0) out.push(`  (same lines, different order)`);
  return out;
}

/** One-line description of a step, for listings. */
export function describeStep(s: object): string {
  const { op, ...rest } = s as { op: string };
  return `${op} ${JSON.stringify(rest)}`;
}
