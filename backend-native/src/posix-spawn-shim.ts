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

/** A shim started by posix_spawn with `fds` as its fds 0, 1, ... and its control socket as fd 3. */
function spawnChild(
  shim: string,
  args: string[],
  env: string[],
  std: ReadonlyArray<number | null>,
  extra: number[],
): { pid: number; ctl: number; ended: () => boolean; exited: Promise<number> } {
  if (!listening) {
    // Before the first spawn, so that no exit can come before the listener. A signal listener
    // does not keep the event loop alive.
    process.on('SIGCHLD', reapAll);
    listening = true;
  }
  const [ours, theirs] = socketPair();
  let pid: number;
  try {
    pid = posixSpawn(shim, [shim, ...args], env, [...std, theirs, ...extra], true);
  } catch (e) {
    for (const fd of [ours, theirs]) closeQuietly(fd);
    throw new StrataError(`could not start ${shim}: ${(e as Error).message}`);
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
  return { pid, ctl: ours, ended: () => ended, exited };
}

function launched(child: ReturnType<typeof spawnChild>): LaunchedShim {
  return {
    pid: child.pid,
    ctl: new Socket({ fd: child.ctl, readable: true, writable: true }),
    exited: child.exited,
    kill: (signal) => {
      if (child.ended()) return; // reaped: the PID may be someone else's by now
      try {
        process.kill(child.pid, signal);
      } catch {
        /* exited, not reaped yet */
      }
    },
    unref: () => undefined,
    forwardTerminal: () => () => undefined,
  };
}

const envList = (env: Record<string, string>): string[] => Object.entries(env).map(([k, v]) => `${k}=${v}`);

/** The shim as this process's child, started by posix_spawn: the contract of runtime.ts's spawnShim. */
export function posixSpawnShim(inv: ShimInvocation): LaunchedShim {
  if (inv.terminal) throw new StrataError('posixSpawnShim: a -t run is spawned by the client');
  const std = inv.std.map((fd) => (fd === 'ignore' ? null : fd));
  return launched(spawnChild(inv.shim, inv.args, envList(inv.env), std, inv.extra));
}

/** A file to open as one of the shim's fds: a /proc/PID/fd/N link reopens that fd's file. */
export interface FdSource {
  path: string;
  flags: number;
}

/**
 * One shim started before a run needs it (`strata-shim await-plan`), kept by the warm daemon: a
 * run's path then has no process to spawn (posix_spawn returns only once the shim has exec'd:
 * 1-5 ms here). It holds nothing but its control socket; it exits when that closes.
 */
let spare: (ReturnType<typeof spawnChild> & { shim: string; binary: string }) | null = null;

/** Which file `shim` is now: a build replaces the binary (a new inode) under the same path. */
function binaryOf(shim: string): string {
  try {
    const st = fs.statSync(shim);
    return `${st.dev}:${st.ino}:${st.mtimeMs}`;
  } catch {
    return '';
  }
}

/** Starts the spare shim if there is none (after a run's answer, off the path). */
export function keepSpareShim(shim: string): void {
  if (spare && !spare.ended() && spare.binary === binaryOf(shim)) return;
  dropSpareShim();
  try {
    const binary = binaryOf(shim);
    spare = { ...spawnChild(shim, ['await-plan'], [], [null, null, null], []), shim, binary };
  } catch {
    spare = null; // the next run spawns its own
  }
}

/** The spare shim goes (the daemon's exit). */
export function dropSpareShim(): void {
  if (!spare) return;
  const s = spare;
  spare = null;
  closeQuietly(s.ctl); // it reads EOF and exits
}

/**
 * The spare shim given a run's plan, or null when there is none of this binary: `std` (null:
 * /dev/null) and `extra` become its fds 0-2 and 4, 5, ..., as inv.std and inv.extra would with
 * posixSpawnShim, opened by the shim from their paths: whoever holds the fds behind them keeps
 * them open until the shim's first line (runtime.ts does for inv.extra).
 */
export function planSpareShim(
  inv: ShimInvocation,
  std: ReadonlyArray<FdSource | null>,
  extra: readonly FdSource[],
): LaunchedShim | null {
  const s = spare;
  if (!s || s.ended() || inv.terminal) return null;
  spare = null;
  if (s.shim !== inv.shim || s.binary !== binaryOf(inv.shim)) {
    closeQuietly(s.ctl); // an older build's: it reads EOF and exits
    return null;
  }
  const fds: Array<[number, FdSource]> = [];
  std.forEach((src, i) => {
    if (src) fds.push([i, src]);
  });
  extra.forEach((src, i) => fds.push([4 + i, src]));
  const env = envList(inv.env);
  const fields = [
    String(fds.length),
    ...fds.flatMap(([target, src]) => [String(target), String(src.flags), src.path]),
    String(inv.args.length + 1),
    inv.shim,
    ...inv.args,
    String(env.length),
    ...env,
  ];
  const body = Buffer.from(fields.map((f) => `${f}\0`).join(''));
  try {
    fs.writeSync(s.ctl, Buffer.concat([Buffer.from(`plan ${body.length}\n`), body]));
  } catch {
    closeQuietly(s.ctl);
    return null; // gone meanwhile: spawned as usual
  }
  return launched(s);
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
}
