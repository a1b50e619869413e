// The shim started with posix_spawn(3) instead of child_process.spawn: libuv forks, and a fork of
// the warm daemon (~60 MB of heap and page tables) costs ~1.9 ms on a run's path against ~0.1 ms
// for glibc's vfork-style clone (docs/native-backend.md). For the warm daemon, which has libc
// bound anyway; a one-shot CLI keeps child_process (binding libc costs more than the fork saves).
// The children are reaped on SIGCHLD with waitpid(pid, WNOHANG): libuv waits for its own children
// by PID only, so neither side takes the other's.
import fs from 'node:fs';
import { Socket } from 'node:net';
import { StrataError } from '../../shared/src/errors.js';
import { posixSpawn, reapIfExited, socketPair } from './libc.js';
import type { LaunchedShim, ShimInvocation } from './runtime.js';

/** Children not reaped yet, by PID: what to call with their wait status. */
const waiting = new Map<number, (status: number) => void>();

function reapAll(): void {
  for (const [pid, done] of waiting) {
    let status: number | null;
    try {
      status = reapIfExited(pid);
    } catch {
      status = 255 << 8; // not ours to wait for any more (ECHILD): gone, its status unknown
    }
    if (status === null) continue;
    waiting.delete(pid);
    done(status);
  }
}

let listening = false;

/** An exit code as child_process reports it: the status, or 128 + the signal's number. */
function exitCode(status: number): number {
  const signal = status & 0x7f;
  return signal === 0 ? (status >> 8) & 0xff : 128 + signal;
}

/** The shim as this process's child, started by posix_spawn: the contract of runtime.ts's spawnShim. */
export function posixSpawnShim(inv: ShimInvocation): LaunchedShim {
  if (inv.terminal) throw new StrataError('posixSpawnShim: a -t run is spawned by the client');
  if (!listening) {
    // Before the first spawn, so that no exit can come before the listener. A signal listener
    // does not keep the event loop alive.
    process.on('SIGCHLD', reapAll);
    listening = true;
  }
  const [ours, theirs] = socketPair();
  let pid: number;
  try {
    const env = Object.entries(inv.env).map(([k, v]) => `${k}=${v}`);
    const std = inv.std.map((fd) => (fd === 'ignore' ? null : fd));
    pid = posixSpawn(inv.shim, [inv.shim, ...inv.args], env, [...std, theirs, ...inv.extra], true);
  } catch (e) {
    for (const fd of [ours, theirs]) closeQuietly(fd);
    throw new StrataError(`could not start ${inv.shim}: ${(e as Error).message}`);
  }
  closeQuietly(theirs);
  let ended = false;
  const exited = new Promise<number>((resolve) =>
    waiting.set(pid, (status) => {
      ended = true;
      resolve(exitCode(status));
    }),
  );
  reapAll(); // an exit before the map had it (the signal came and found nothing) is seen here
  return {
    pid,
    ctl: new Socket({ fd: ours, readable: true, writable: true }),
    exited,
    kill: (signal) => {
      if (ended) return; // reaped: the PID may be someone else's by now
      try {
        process.kill(pid, signal);
      } catch {
        /* exited, not reaped yet */
      }
    },
    unref: () => undefined,
    forwardTerminal: () => () => undefined,
  };
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
}
