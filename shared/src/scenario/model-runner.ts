// Run a scenario on the kernel model (pure TypeScript, no Node APIs: it runs in the browser too).

import type { MountInfo } from '../mount/mountinfo.js';
import type { KernelRelease, Process } from '../model/index.js';
import { Kernel, ModelError, OPAQUE_XATTR } from '../model/index.js';
import type { Call } from './plan.js';
import { WORLD_SOURCE, layerCalls, stepCalls } from './plan.js';
import type { RawResult, RawTreeEntry, ScenarioResult } from './result.js';
import { normaliseResult } from './result.js';
import { sha256Hex, utf8 } from './sha256.js';
import type { Scenario, Step } from './types.js';

/** Where the model's world tmpfs is mounted before pivoting into it (the native runner: a temp dir). */
const WORLD_DIR = '/scenario';

interface Chain {
  procs: Array<{ proc: Process; createdBy: number | null }>;
}

/** Execute one call; throws ModelError with the errno the kernel would return. */
function execCall(chain: Chain, call: Call, step: number | null): void {
  const p = (chain.procs[chain.procs.length - 1] as { proc: Process }).proc;
  switch (call.c) {
    case 'mount':
      return p.mount(call.source, call.target, call.fstype, { flags: call.flags, data: call.data });
    case 'umount':
      return p.umount(call.target, { detach: call.detach });
    case 'unshare':
      chain.procs.push({ proc: p.clone({ namespaces: call.ns }), createdBy: step });
      return;
    case 'pivot_root':
      return p.pivotRoot(call.new_root, call.put_old);
    case 'chroot':
      return p.chroot(call.path);
    case 'chdir':
      return p.chdir(call.path);
    case 'write':
      return p.writeFile(call.path, call.content, { append: call.append, mode: call.mode });
    case 'unlink':
      return p.unlink(call.path);
    case 'rename':
      return p.rename(call.from, call.to);
    case 'mkdir':
      return p.mkdir(call.path, { mode: call.mode });
    case 'mkdirp':
      return p.mkdirp(call.path, { mode: 0o755 });
    case 'rmdir':
      return p.rmdir(call.path);
    case 'chmod':
      return p.chmod(call.path, call.mode);
    case 'symlink':
      return p.symlink(call.target, call.path);
    case 'whiteout':
      return p.mknod(call.path, 0, 0, { mode: 0 });
    case 'setxattr':
      return p.setxattr(call.path, call.name, call.value);
  }
}

/**
 * A process in a fresh mount namespace whose root is a new tmpfs (the world), as the native runner
 * makes it: unshare -m, make / rprivate, mount tmpfs, pivot_root into it, detach the old root.
 */
export function worldProcess(kernel = new Kernel()): Process {
  kernel.init.mkdirp(WORLD_DIR);
  const p = kernel.init.clone({ namespaces: ['mnt'] });
  p.mount('none', '/', null, { flags: ['MS_PRIVATE', 'MS_REC'] });
  p.mount(WORLD_SOURCE, WORLD_DIR, 'tmpfs');
  p.mkdir(`${WORLD_DIR}/.old`, { mode: 0o755 });
  p.pivotRoot(WORLD_DIR, `${WORLD_DIR}/.old`);
  p.chdir('/');
  p.umount('/.old', { detach: true });
  p.rmdir('/.old');
  return p;
}

export function snapshot(p: Process, dir: string): RawTreeEntry[] | string {
  const out: RawTreeEntry[] = [];
  const walk = (abs: string, rel: string): void => {
    for (const name of p.readdir(abs)) {
      const a = abs === '/' ? `/${name}` : `${abs}/${name}`;
      const r = rel === '/' ? `/${name}` : `${rel}/${name}`;
      const st = p.lstat(a);
      const e: RawTreeEntry = { path: r, kind: st.kind, mode: st.mode };
      if (st.kind === 'file') {
        const content = p.readFile(a);
        e.size = utf8(content).length;
        e.sha256 = sha256Hex(content);
      } else if (st.kind === 'symlink') {
        e.target = p.readlink(a);
        e.size = utf8(e.target).length;
      } else if (st.kind === 'chardev') {
        e.rdev = `${st.rdevMajor}:${st.rdevMinor}`;
      } else if (p.getxattr(a, OPAQUE_XATTR) === 'y') {
        e.opaque = true;
      }
      out.push(e);
      if (st.kind === 'dir') walk(a, r);
    }
  };
  try {
    if (p.stat(dir).kind !== 'dir') return 'ENOTDIR';
    walk(dir, '/');
  } catch (err) {
    if (err instanceof ModelError) return err.code;
    throw err;
  }
  return out;
}

export interface ModelRun {
  raw: RawResult;
  /** The processes of the chain, outermost first (for lessons that look further). */
  processes: Process[];
}

/** A scenario in progress on the model: layers written, steps applied one at a time. */
export class ModelSession {
  private readonly chain: Chain;
  readonly outcomes: string[] = [];

  /** `release`: the kernel the model answers as (default 6.18; see KernelRelease). */
  constructor(layers: Scenario['layers'], release?: KernelRelease) {
    this.chain = { procs: [{ proc: worldProcess(new Kernel({ release })), createdBy: null }] };
    for (const call of layerCalls(layers)) execCall(this.chain, call, null);
  }

  /** The process the next step runs in. */
  get process(): Process {
    return (this.chain.procs[this.chain.procs.length - 1] as { proc: Process }).proc;
  }

  /** Apply one step; its outcome is "ok" or the errno of the first call that failed. */
  step(step: Step): string {
    const i = this.outcomes.length;
    let outcome = 'ok';
    for (const call of stepCalls(step)) {
      try {
        execCall(this.chain, call, i);
      } catch (err) {
        if (!(err instanceof ModelError)) throw err;
        outcome = err.code;
        break;
      }
    }
    this.outcomes.push(outcome);
    return outcome;
  }

  result(trees: readonly string[]): ModelRun {
    const tables: Array<{ createdBy: number | null; entries: MountInfo[] }> = this.chain.procs.map((c) => ({
      createdBy: c.createdBy,
      entries: c.proc.mountinfo(),
    }));
    const snap: RawResult['trees'] = {};
    for (const t of trees) snap[t] = snapshot(this.process, t);
    return {
      raw: { outcomes: [...this.outcomes], tables, trees: snap },
      processes: this.chain.procs.map((c) => c.proc),
    };
  }
}

export function runOnModelRaw(s: Scenario, release?: KernelRelease): ModelRun {
  const session = new ModelSession(s.layers, release);
  for (const step of s.steps) session.step(step);
  return session.result(s.trees);
}

export function runOnModel(s: Scenario, release?: KernelRelease): ScenarioResult {
  return normaliseResult(s.name, runOnModelRaw(s, release).raw);
}

/**
 * The model's release for a kernel that reports `uname -r`: 6.1 for 6.1.x (the emu guest), else 6.18,
 * the newest the model was checked against.
 */
export function modelRelease(unameRelease: string): KernelRelease {
  return /^6\.1\./.test(unameRelease) ? '6.1' : '6.18';
}
