// Parse and check a scenario (docs/scenarios.md). Errors name the file, the step index and the field,
// so a typo in a 40-step scenario points at its line of thought, not at a stack trace.

import type { NsKind } from '../model/index.js';
import type { LayerEntry, Scenario, Step, StepOp, UnsharePropagation } from './types.js';

export class ScenarioError extends Error {
  constructor(
    readonly file: string,
    /** Where in the document: "steps[3].target", "layers.A[\"x\"]". */
    readonly where: string,
    readonly reason: string,
  ) {
    super(`${file}: ${where}: ${reason}`);
    this.name = 'ScenarioError';
  }
}

const NS: readonly NsKind[] = ['mnt', 'uts', 'ipc', 'net', 'pid', 'cgroup'];
const UNSHARE_PROPAGATION: readonly UnsharePropagation[] = ['private', 'shared', 'slave', 'unchanged'];
/** Filesystem types both runners can mount (the model's list). */
export const FS_TYPES: readonly string[] = ['tmpfs', 'proc', 'ramfs', 'devpts', 'sysfs', 'mqueue'];
const ERRNO = /^(ok|E[A-Z]+)$/;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Field readers bound to one place in the document. */
class Fields {
  constructor(
    private readonly file: string,
    private readonly where: string,
    private readonly obj: Json,
  ) {}

  fail(field: string, reason: string): never {
    throw new ScenarioError(this.file, field ? `${this.where}.${field}` : this.where, reason);
  }

  /** Reject fields this op does not know: a misspelt "detach" must not silently mean false. */
  only(allowed: readonly string[]): void {
    for (const k of Object.keys(this.obj)) {
      if (!allowed.includes(k)) this.fail(k, `unknown field (expected one of: ${allowed.join(', ')})`);
    }
  }

  string(field: string, dflt?: string): string {
    const v = this.obj[field];
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== 'string') this.fail(field, v === undefined ? 'missing' : 'must be a string');
    return v;
  }

  path(field: string, dflt?: string): string {
    const v = this.string(field, dflt);
    if (v === '') this.fail(field, 'must not be empty');
    if (v.includes('\0')) this.fail(field, 'must not contain NUL');
    // Paths are inside the scenario's world; a relative one is taken from its root.
    return v.startsWith('/') ? v : '/' + v;
  }

  optionalPath(field: string): string | null {
    return this.obj[field] === undefined || this.obj[field] === null ? null : this.path(field);
  }

  bool(field: string): boolean {
    const v = this.obj[field];
    if (v === undefined) return false;
    if (typeof v !== 'boolean') this.fail(field, 'must be true or false');
    return v;
  }

  /** A mode: a number, or an octal string ("0755", "755"). */
  mode(field: string, dflt: number): number {
    const v = this.obj[field];
    if (v === undefined) return dflt;
    let n: number;
    if (typeof v === 'number') n = v;
    else if (typeof v === 'string' && /^0?[0-7]{1,4}$/.test(v)) n = parseInt(v, 8);
    else this.fail(field, 'must be a number or an octal string such as "0755"');
    if (!Number.isInteger(n) || n < 0 || n > 0o7777) this.fail(field, 'must be between 0 and 07777');
    return n;
  }

  strings(field: string, dflt?: string[]): string[] {
    const v = this.obj[field];
    if (v === undefined && dflt !== undefined) return dflt;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
      this.fail(field, v === undefined ? 'missing' : 'must be a list of strings');
    return v as string[];
  }
}

const STEP_FIELDS: Record<StepOp, readonly string[]> = {
  unshare: ['ns', 'propagation'],
  mount: ['type', 'source', 'target', 'options'],
  bind: ['source', 'target', 'recursive', 'readonly'],
  'make-private': ['target', 'recursive'],
  'make-shared': ['target', 'recursive'],
  'make-slave': ['target', 'recursive'],
  'make-unbindable': ['target', 'recursive'],
  move: ['source', 'target'],
  umount: ['target', 'detach'],
  overlay: ['lower', 'upper', 'work', 'target'],
  pivot_root: ['new_root', 'put_old'],
  chroot: ['path'],
  chdir: ['path'],
  write: ['path', 'content', 'append'],
  delete: ['path'],
  rename: ['from', 'to'],
  mkdir: ['path', 'mode'],
  rmdir: ['path'],
  chmod: ['path', 'mode'],
  symlink: ['target', 'path'],
};

function parseStep(f: Fields, op: StepOp): Step {
  switch (op) {
    case 'unshare': {
      const ns = f.strings('ns');
      for (const n of ns)
        if (!NS.includes(n as NsKind)) f.fail('ns', `unknown namespace "${n}" (${NS.join(', ')})`);
      const propagation = f.string('propagation', 'private');
      if (!UNSHARE_PROPAGATION.includes(propagation as UnsharePropagation))
        f.fail('propagation', `must be one of ${UNSHARE_PROPAGATION.join(', ')}`);
      return { op, ns: ns as NsKind[], propagation: propagation as UnsharePropagation };
    }
    case 'mount': {
      const type = f.string('type');
      if (!FS_TYPES.includes(type))
        f.fail(
          'type',
          `unsupported filesystem "${type}" (${FS_TYPES.join(', ')}; overlays have their own op)`,
        );
      const opts = f.string('options', '');
      return {
        op,
        type,
        source: f.string('source', 'none'),
        target: f.path('target'),
        options: opts ? opts.split(',') : [],
      };
    }
    case 'bind':
      return {
        op,
        source: f.path('source'),
        target: f.path('target'),
        recursive: f.bool('recursive'),
        readonly: f.bool('readonly'),
      };
    case 'make-private':
    case 'make-shared':
    case 'make-slave':
    case 'make-unbindable':
      return { op, target: f.path('target'), recursive: f.bool('recursive') };
    case 'move':
      return { op, source: f.path('source'), target: f.path('target') };
    case 'umount':
      return { op, target: f.path('target'), detach: f.bool('detach') };
    case 'overlay': {
      const lower = f.strings('lower').map((p) => (p.startsWith('/') ? p : '/' + p));
      if (lower.length === 0) f.fail('lower', 'needs at least one layer');
      if (lower.some((p) => /[:,]/.test(p))) f.fail('lower', 'layer paths must not contain ":" or ","');
      const upper = f.optionalPath('upper');
      const work = f.optionalPath('work');
      if ((upper === null) !== (work === null))
        f.fail(upper ? 'work' : 'upper', 'upper and work go together');
      return { op, lower, upper, work, target: f.path('target') };
    }
    case 'pivot_root':
      return { op, new_root: f.path('new_root'), put_old: f.path('put_old') };
    case 'chroot':
    case 'chdir':
      return { op, path: f.path('path') };
    case 'write':
      return { op, path: f.path('path'), content: f.string('content'), append: f.bool('append') };
    case 'delete':
    case 'rmdir':
      return { op, path: f.path('path') };
    case 'rename':
      return { op, from: f.path('from'), to: f.path('to') };
    case 'mkdir':
      return { op, path: f.path('path'), mode: f.mode('mode', 0o755) };
    case 'chmod':
      return { op, path: f.path('path'), mode: f.mode('mode', -1) };
    case 'symlink':
      return { op, target: f.string('target'), path: f.path('path') };
  }
}

function parseLayerEntry(file: string, where: string, v: unknown): LayerEntry {
  if (typeof v === 'string') return v;
  if (!isObject(v))
    throw new ScenarioError(file, where, 'must be a string (file content) or an object with "type"');
  const f = new Fields(file, where, v);
  const type = f.string('type');
  switch (type) {
    case 'file':
      f.only(['type', 'content', 'mode']);
      return { type, content: f.string('content', ''), mode: f.mode('mode', 0o644) };
    case 'dir':
      f.only(['type', 'mode', 'opaque']);
      return { type, mode: f.mode('mode', 0o755), opaque: f.bool('opaque') };
    case 'symlink':
      f.only(['type', 'target']);
      return { type, target: f.string('target') };
    case 'whiteout':
      f.only(['type']);
      return { type };
    default:
      return f.fail('type', `unknown entry type "${type}" (file, dir, symlink, whiteout)`);
  }
}

/** Check a parsed JSON document and turn it into a Scenario. `file` names it in errors. */
export function parseScenario(doc: unknown, file = 'scenario'): Scenario {
  if (!isObject(doc)) throw new ScenarioError(file, '(top)', 'must be a JSON object with "steps"');
  const top: Fields = new Fields(file, '(top)', doc);
  top.only(['description', 'layers', 'steps', 'trees']);
  const layers: Scenario['layers'] = {};
  const rawLayers = doc.layers ?? {};
  if (!isObject(rawLayers)) top.fail('layers', 'must be an object of layer name -> entries');
  for (const [name, entries] of Object.entries(rawLayers)) {
    const where = `layers.${name}`;
    if (!isObject(entries)) throw new ScenarioError(file, where, 'must be an object of path -> entry');
    const dir = name.startsWith('/') ? name : '/' + name;
    if (/[:,]/.test(dir)) throw new ScenarioError(file, where, 'layer names must not contain ":" or ","');
    const out: Record<string, LayerEntry> = {};
    for (const [p, v] of Object.entries(entries)) {
      if (p === '' || p.split('/').some((c) => c === '..'))
        throw new ScenarioError(file, `${where}[${JSON.stringify(p)}]`, 'must be a path inside the layer');
      out[p] = parseLayerEntry(file, `${where}[${JSON.stringify(p)}]`, v);
    }
    layers[dir] = out;
  }
  const rawSteps: unknown = doc.steps;
  if (!Array.isArray(rawSteps)) top.fail('steps', rawSteps === undefined ? 'missing' : 'must be a list');
  const steps: Step[] = [];
  const expect: Record<number, string> = {};
  rawSteps.forEach((raw: unknown, i: number) => {
    const where = `steps[${i}]`;
    if (!isObject(raw)) throw new ScenarioError(file, where, 'must be an object with "op"');
    const f = new Fields(file, where, raw);
    const op = f.string('op');
    if (!(op in STEP_FIELDS)) f.fail('op', `unknown op "${op}" (${Object.keys(STEP_FIELDS).join(', ')})`);
    f.only(['op', 'expect', ...STEP_FIELDS[op as StepOp]]);
    const step = parseStep(f, op as StepOp);
    if (step.op === 'chmod' && step.mode < 0) f.fail('mode', 'missing');
    if (raw.expect !== undefined) {
      const e = f.string('expect');
      if (!ERRNO.test(e)) f.fail('expect', 'must be "ok" or an errno name such as "EINVAL"');
      expect[i] = e;
    }
    steps.push(step);
  });
  const description = top.string('description', '');
  const trees = top.strings('trees', defaultTrees(steps)).map((p) => (p.startsWith('/') ? p : '/' + p));
  return { name: file, description, layers, steps, trees, expect };
}

/** Every overlay's merged dir and upper dir, in order, once each. */
function defaultTrees(steps: readonly Step[]): string[] {
  const out: string[] = [];
  for (const s of steps) {
    if (s.op !== 'overlay') continue;
    for (const p of [s.target, s.upper]) if (p !== null && !out.includes(p)) out.push(p);
  }
  return out;
}

/** Parse scenario JSON text; syntax errors are ScenarioErrors too. */
export function parseScenarioText(text: string, file = 'scenario'): Scenario {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ScenarioError(file, '(json)', (err as Error).message);
  }
  return parseScenario(doc, file);
}

/** The scenario back as a JSON document (what a shrunk reproducer prints). */
export function scenarioToJson(s: Scenario): Record<string, unknown> {
  const steps = s.steps.map((st, i) => {
    const out: Record<string, unknown> = { ...st };
    if (st.op === 'mount') out.options = st.options.join(',');
    if (s.expect[i] !== undefined) out.expect = s.expect[i];
    return out;
  });
  const doc: Record<string, unknown> = {};
  if (s.description) doc.description = s.description;
  doc.layers = s.layers;
  doc.steps = steps;
  doc.trees = s.trees;
  return doc;
}
