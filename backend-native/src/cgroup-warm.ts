// Moving a task into a cgroup takes the kernel's global cgroup_threadgroup_rwsem for writing. Its
// writer side is an rcu_sync: when no writer was seen for a grace period, the next one waits a whole
// RCU grace period (7.5 ms on this machine when idle, 12-24 ms during a run) before it may take it;
// writers that follow within a grace period of the last one pass at once. A container start moves
// its PID 1 (and an exec its process) about 10 ms after the start begins, so that wait was the
// largest single step of a warm `run` (docs/native-backend.md). While a start is in flight, this
// process moves itself into the cgroup it is already in (a move that changes nothing but enters the
// write side): the first such write pays the grace period alongside the start's other work, and one
// every few ms keeps the fast path open until the start's own move has happened.
// cgroup v2 only: on v1 a container's processes move themselves, one thread each, which takes no
// global lock (cgroups.ts, joinSelf), so there is no grace period to warm.
import fs from 'node:fs';
import path from 'node:path';
import { cgroupMovesWait, cgroupVersion, hierarchies } from './cgroups.js';
import { isRootless } from './rootless.js';

/** Well under the shortest grace period measured here (7 ms), so the fast path never closes. */
const KEEP_OPEN_MS = 3;

let ownProcsFd: number | null | undefined;
let holders = 0;
let writing = false;

/**
 * This process's own cgroup.procs in the first hierarchy strata uses (any hierarchy shares the
 * rwsem), opened once: each write(2) on it is a move of its own.
 */
function ownCgroupProcs(): number | null {
  if (ownProcsFd !== undefined) return ownProcsFd;
  ownProcsFd = null;
  if (isRootless() || !cgroupMovesWait()) return null;
  try {
    const hier = hierarchies()[0];
    if (!hier) return null;
    const key = cgroupVersion() === 2 ? '' : path.basename(hier);
    for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const [, controllers, rel] = line.split(':');
      if (rel === undefined || !(controllers ?? '').split(',').includes(key)) continue;
      ownProcsFd = fs.openSync(path.join(hier, rel, 'cgroup.procs'), 'w');
      break;
    }
  } catch {
    /* no cgroups to read: nothing to warm */
  }
  return ownProcsFd;
}

function writeOnce(fd: number): void {
  writing = true;
  // Async: the first write blocks a libuv pool thread for the grace period, not the caller.
  fs.write(fd, String(process.pid), () => {
    writing = false;
    if (holders === 0) return;
    setTimeout(() => {
      if (holders > 0 && !writing) writeOnce(fd);
    }, KEEP_OPEN_MS).unref();
  });
}

/**
 * Keeps cgroup moves fast until the returned function is called (once a start's PID 1 is in its
 * cgroups). Nested and concurrent holders share one chain of writes; best effort, errors ignored.
 */
export function holdCgroupMovesOpen(): () => void {
  const fd = ownCgroupProcs();
  if (fd === null) return () => undefined;
  holders++;
  if (!writing) writeOnce(fd);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    holders--;
  };
}
