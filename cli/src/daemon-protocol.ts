// What the thin client (client.ts) and the warm native daemon (native-daemon.ts) share: where the
// daemon of a store and build listens, and the messages. Loaded by the client: node builtins only.
//
// Connection A, newline-delimited JSON. Client: {run}, then {spawned} or {spawnError}, then {exit}.
// Daemon: {o}/{e} output chunks (base64), {spawn} (the shim to start), {pid} (the container's, for
// signals), {code} last. Connection B: the line `ctl TOKEN`, then it is the shim's control socket.

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
  { o: string } | { e: string } | { spawn: SpawnPlan } | { pid: number } | { code: number };
