// What the thin client (client.ts) and the warm native daemon (native-daemon.ts) share: where the
// daemon of a store and build listens, and the messages. Loaded by the client: node builtins only.
//
// Connection A, newline-delimited JSON. Client: {run}, then {spawned} or {spawnError}, then {exit}
// (only after a {spawn}). Daemon: {o}/{e} output chunks (base64), {spawn} (the shim for the client
// to start) or {started} (the daemon started it, with the client's stdio reopened), {pid} (the
// container's, for signals), {code} last. Connection B: the line `ctl TOKEN`, then it is the shim's
// control socket; a client whose stdio the daemon can reopen makes it only when told to {spawn}.
import { readFileSync } from 'node:fs';

/** docker run's --sig-proxy: what this process receives goes to `kill`; returns the undo. */
export function proxySignals(kill: (signal: NodeJS.Signals) => void): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  for (const s of signals) process.on(s, kill);
  return () => {
    for (const s of signals) process.off(s, kill);
  };
}

/** Where daemons listen: outside every store, so a store's tree is only what commands made. */
export const DAEMON_DIR = '/run/strata';

/** 64 bits of FNV-1a over the root (node:crypto costs the client milliseconds to load). */
function rootKey(root: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ root.length;
  for (let i = 0; i < root.length; i++) {
    const c = root.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x85ebca6b) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/** The daemon's socket for a store root and a build: a rebuilt dist/ never reaches an old daemon. */
export function daemonSocket(root: string, build: string): string {
  return `${DAEMON_DIR}/native-${rootKey(root)}-${build}.sock`;
}

/** The build a bundled module belongs to: its dist/vNNN-PID directory (null when not bundled). */
export function buildOf(moduleUrl: string): string | null {
  return /\/dist\/(v\d+-\d+)\//.exec(moduleUrl)?.[1] ?? null;
}

// The fds of another process that can be reopened through /proc/PID/fd/N with the same meaning: a
// pipe or FIFO, a terminal (pts, vt, serial), /dev/null, or a regular file opened O_APPEND (every
// write goes to the end whichever description makes it). A regular file without O_APPEND has an
// offset a reopened description would not share, a socket cannot be opened at all, and /dev/tty,
// /dev/tty0, /dev/console or a ptmx would open something else: those keep the client's own spawn.
const S_IFMT = 0o170000;
const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFREG = 0o100000;
const O_APPEND = 0o2000;

/** Whether a file of this mode and device, opened with these flags, can be reopened as itself. */
export function reopenable(mode: number, rdev: number, flags: () => number): boolean {
  const type = mode & S_IFMT;
  if (type === S_IFIFO) return true;
  if (type === S_IFREG) return (flags() & O_APPEND) !== 0;
  if (type !== S_IFCHR) return false;
  // Linux's dev_t encoding (major bits 8-19, minor bits 0-7 and 20-31).
  const major = (rdev >>> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
  if (major === 1) return minor === 3; // /dev/null
  // vt and serial ttys (not tty0, whichever console is in front when opened), pts slaves.
  return (major === 4 && minor > 0) || (major >= 136 && major <= 143);
}

/** The open flags of `pid`'s fd (from /proc/PID/fdinfo/FD), octal as the kernel prints them. */
export function fdFlags(pid: number | 'self', fd: number): number {
  const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
  return parseInt(/^flags:\s+([0-7]+)/m.exec(info)?.[1] ?? '0', 8);
}

export interface RunRequest {
  /** The store root the client resolved; a daemon of another root refuses. */
  root: string;
  /** `run` and its arguments (global options already taken out). */
  args: string[];
  debug: boolean;
  cwd: string;
  env: Record<string, string>;
  /** Names connection B. */
  token: string;
  /**
   * The client's PID when its stdout and stderr can be reopened through /proc/PID/fd (reopenable
   * above), and whether its stdin can too: the daemon then starts the shim itself.
   */
  stdio?: { pid: number; stdin: boolean };
  /** The client's performance.timeOrigin: a traced run's lines from the daemon use its clock. */
  t0?: number;
}

/** The daemon started the shim with the client's stdio: what the client needs should it go away. */
export interface Started {
  id: string;
  shimPid: number;
  autoRemove: boolean;
  /** containers/<id>/exit, which the shim writes when the payload ends. */
  exitFile: string;
}

export interface SpawnPlan {
  id: string;
  /** --rm: a client whose daemon went away removes the container itself. */
  autoRemove: boolean;
  shim: string;
  args: string[];
  env: Record<string, string>;
  /** The shim's stdin is the client's (-i), else /dev/null. */
  stdin: boolean;
  /** Reopened by the client (paths under /proc/DAEMON/fd) as the shim's fds 4, 5, ... */
  fds: Array<{ path: string; flags: number }>;
  terminal: boolean;
  attachStdin: boolean;
}

export type ClientMessage =
  { run: RunRequest } | { spawned: number } | { spawnError: string } | { exit: number };

export type DaemonMessage =
  | { o: string }
  | { e: string }
  | { spawn: SpawnPlan }
  | { started: Started }
  | { pid: number }
  | { code: number };
