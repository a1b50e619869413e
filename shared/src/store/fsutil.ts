// Small filesystem primitives that keep the store consistent when several strata processes run at
// once or one is killed midway: write-then-rename, exclusive lock files with stale-owner recovery.
import fs from 'node:fs';
import path from 'node:path';

let tmpCounter = 0;

/** Write a file atomically: readers see the old or the new content, never a torn one. */
export function atomicWrite(file: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}-${++tmpCounter}`;
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}

export function atomicWriteJson(file: string, value: unknown): void {
  atomicWrite(file, JSON.stringify(value, null, 2) + '\n');
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

export function readJsonIfExists<T>(file: string): T | null {
  try {
    return readJson<T>(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export function readTextIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Run `fn` holding an exclusive lock file. A lock whose owner process is gone (killed with SIGKILL
 * midway) is taken over.
 */
/** Try once to take a lock file; a lock whose owner is gone (killed midway) is taken over. */
function tryLock(lockFile: string): { ok: true } | { ok: false; owner: number } {
  for (;;) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return { ok: true };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(readTextIfExists(lockFile));
      if (!(owner > 0) || pidAlive(owner)) return { ok: false, owner };
      // Take the stale lock aside under a private name; if what we moved was not the stale one
      // (a live process re-created it meanwhile), put it back.
      const aside = `${lockFile}.stale-${process.pid}`;
      try {
        fs.renameSync(lockFile, aside);
        if (Number(readTextIfExists(aside)) !== owner) fs.linkSync(aside, lockFile);
        fs.rmSync(aside, { force: true });
      } catch {
        /* another contender moved it first */
      }
    }
  }
}

/** Run `fn` holding an exclusive lock file (synchronous waiting: for short critical sections). */
export function withLock<T>(lockFile: string, fn: () => T, timeoutMs = 30_000): T {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    const r = tryLock(lockFile);
    if (r.ok) break;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for lock ${lockFile} (held by PID ${r.owner})`);
    sleepSync(delay);
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}

/** Async variant for long critical sections (image builds); `ready` lets a waiter stop early. */
export async function withLockAsync<T>(
  lockFile: string,
  fn: () => Promise<T>,
  ready?: () => T | null,
  timeoutMs = 300_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const r = tryLock(lockFile);
    if (r.ok) break;
    const done = ready?.();
    if (done !== null && done !== undefined) return done;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for lock ${lockFile} (held by PID ${r.owner})`);
    await new Promise((res) => setTimeout(res, delay));
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}

export function ensureDir(dir: string, mode = 0o700): void {
  fs.mkdirSync(dir, { recursive: true, mode });
}

export function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export function removeTree(p: string): void {
  fs.rmSync(p, { recursive: true, force: true, maxRetries: 3 });
}

export function joinInside(root: string, ...parts: string[]): string {
  return path.join(root, ...parts);
}
