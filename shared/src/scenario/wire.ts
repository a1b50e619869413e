// The scenario executor's wire format (backend-native/stage/strata-scenario.c): jobs in, one JSON
// object a line out. Both kernel runners (native on this machine, emu in the v86 guest) hand the
// same jobs to the same program and turn its report into RawResults here, so they differ only in
// where the program runs.

import { parseMountinfo } from '../mount/mountinfo.js';
import { mountFlagsValue } from '../mount/options.js';
import type { NsKind } from '../model/index.js';
import type { Call } from './plan.js';
import { layerCalls, stepCalls } from './plan.js';
import type { RawResult, RawTreeEntry } from './result.js';
import type { Scenario } from './types.js';

/** unshare(2)'s CLONE_NEW* values (the same on every Linux architecture). */
const CLONE_FLAGS: Record<NsKind, number> = {
  mnt: 0x20000,
  uts: 0x4000000,
  ipc: 0x8000000,
  net: 0x40000000,
  pid: 0x20000000,
  cgroup: 0x2000000,
};

export class ScenarioWireError extends Error {
  override name = 'ScenarioWireError';
}

const field = (v: string | number | boolean | null): string =>
  encodeURIComponent(v === null ? '' : typeof v === 'boolean' ? (v ? '1' : '0') : String(v));

/** One call as a line's fields: its name, then its arguments in the executor's order. */
function callFields(c: Call): Array<string | number | boolean | null> {
  switch (c.c) {
    case 'mount':
      return [c.c, c.source, c.target, c.fstype, mountFlagsValue(c.flags), c.data];
    case 'umount':
      return [c.c, c.target, c.detach];
    case 'unshare':
      return [c.c, c.ns.reduce((f, n) => f | CLONE_FLAGS[n], 0) >>> 0];
    case 'pivot_root':
      return [c.c, c.new_root, c.put_old];
    case 'chroot':
    case 'chdir':
      return [c.c, c.path];
    case 'write':
      return [c.c, c.path, c.content, c.append, c.mode];
    case 'rename':
      return [c.c, c.from, c.to];
    case 'mkdir':
    case 'chmod':
      return [c.c, c.path, c.mode];
    case 'unlink':
    case 'mkdirp':
    case 'rmdir':
    case 'whiteout':
      return [c.c, c.path];
    case 'symlink':
      return [c.c, c.target, c.path];
    case 'setxattr':
      return [c.c, c.path, c.name, c.value];
  }
}

const line = (kind: string, fields: ReadonlyArray<string | number | boolean | null>): string =>
  [kind, ...fields.map(field)].join(' ');

/** The executor's jobs file for `scenarios`, in order. */
export function encodeJobs(scenarios: readonly Scenario[]): string {
  const out: string[] = [];
  for (const s of scenarios) {
    out.push('J');
    for (const c of layerCalls(s.layers)) out.push(line('L', callFields(c)));
    for (const st of s.steps) {
      out.push('S');
      for (const c of stepCalls(st)) out.push(line('C', callFields(c)));
    }
    for (const t of s.trees) out.push(line('T', [t]));
  }
  return out.join('\n') + '\n';
}

interface Report {
  job: number;
  tables?: string[];
  outcomes?: string[];
  chain?: Array<number | null>;
  trees?: Record<string, RawTreeEntry[] | string>;
  error?: string;
  status?: number;
}

/**
 * The executor's output as one result per scenario; a scenario it could not run (layer setup failed,
 * the job died) is an Error naming it.
 */
export function decodeReport(output: string, scenarios: readonly Scenario[]): Array<RawResult | Error> {
  const jobs = scenarios.map((): Report[] => []);
  for (const text of output.split('\n')) {
    if (text === '') continue;
    let r: Report;
    try {
      r = JSON.parse(text) as Report;
    } catch {
      throw new ScenarioWireError(`scenario executor: not a report line: ${text.slice(0, 200)}`);
    }
    jobs[r.job]?.push(r);
  }
  return scenarios.map((s, i) => {
    const reps = jobs[i] as Report[];
    const err = reps.find((r) => r.error !== undefined);
    if (err) return new ScenarioWireError(`${s.name}: ${err.error}`);
    const tables = reps.find((r) => r.tables)?.tables;
    const done = reps.find((r) => r.outcomes);
    const status = reps.find((r) => r.status !== undefined)?.status;
    if (!tables || !done)
      return new ScenarioWireError(
        `${s.name}: the executor gave no result (wait status ${status ?? 'none'})`,
      );
    const chain = done.chain ?? [];
    if (tables.length !== chain.length)
      return new ScenarioWireError(`${s.name}: ${tables.length} mount tables for ${chain.length} processes`);
    return {
      outcomes: done.outcomes ?? [],
      tables: tables.map((t, k) => ({ createdBy: chain[k] ?? null, entries: parseMountinfo(t) })),
      trees: done.trees ?? {},
    };
  });
}
