// The warm native daemon: one per store root and build, started in the background by the thin
// client (client.ts) and serving its `run` commands concurrently with the engine already compiled.
// The daemon creates the container and prepares the shim's plan as the CLI does; an attached run's
// shim is started by the client with the user's stdio (the fds the plan passes are reopened there
// through /proc/DAEMON/fd), and the shim's control socket is a second connection from the client
// to here. A detached run's shim starts here, as the CLI starts it. Wire format: daemon-protocol.ts.
//
// It stops after STRATA_DAEMON_IDLE_MS without a request (10 min), and within a second once its
// store root or socket is gone or dist/ has been rebuilt.
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type LaunchedShim,
  type ShimInvocation,
  type ShimLauncher,
  shimPath,
} from '../../backend-native/src/runtime.js';
import type { NativeBackend } from '../../backend-native/src/index.js';
import {
  dropSpareShim,
  type FdSource,
  keepSpareShim,
  planSpareShim,
  posixSpawnShim,
} from '../../backend-native/src/posix-spawn-shim.js';
import {
  dropNetworksAhead,
  keepNetworksAhead,
  teardownNetwork,
  teardownNetworkAsync,
} from '../../backend-native/src/network.js';
import type { Overlay2Snapshotter } from '../../backend-native/src/snapshotter.js';
import { SnapshotsAhead } from '../../backend-native/src/snapshots-ahead.js';
import { makeCgroups, removeIdleCgroups } from '../../backend-native/src/cgroups.js';
import { fileStatusFlags } from '../../backend-native/src/libc.js';
import { CGROUP_PARENT } from '../../shared/src/engine/engine.js';
import { StrataError, UsageError } from '../../shared/src/errors.js';
import { pidAlive } from '../../shared/src/store/fsutil.js';
import { setTraceRouter, trace, traceLine } from '../../shared/src/trace.js';
import { runCommand } from './commands/run.js';
import {
  buildOf,
  daemonSocket,
  DAEMON_DIR,
  fdFlags,
  reopenable,
  type ClientMessage,
  type DaemonMessage,
  type RunRequest,
} from './daemon-protocol.js';
import { bool, parseFlags } from './flags.js';
import { commandContext, errorReport } from './main.js';

const IDLE_MS = Number(process.env['STRATA_DAEMON_IDLE_MS'] ?? 10 * 60_000);
const WATCH_MS = 1000;
/** How long a handed-over shim's control connection may take to arrive. */
const CTL_TIMEOUT_MS = 30_000;

/** Connections B by token, until their run claims them. */
const ctlConnections = new Map<string, net.Socket>();
const ctlWaiters = new Map<string, (s: net.Socket) => void>();

function registerCtl(token: string, conn: net.Socket): void {
  const waiter = ctlWaiters.get(token);
  if (waiter) {
    ctlWaiters.delete(token);
    waiter(conn);
    return;
  }
  ctlConnections.set(token, conn);
  const drop = () => ctlConnections.get(token) === conn && ctlConnections.delete(token);
  conn.once('close', drop);
  setTimeout(() => (drop() ? conn.destroy() : undefined), CTL_TIMEOUT_MS).unref();
}

function claimCtl(token: string): Promise<net.Socket> {
  const conn = ctlConnections.get(token);
  if (conn) {
    ctlConnections.delete(token);
    return Promise.resolve(conn);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ctlWaiters.delete(token);
      reject(new StrataError('the client did not connect the container monitor to the daemon'));
    }, CTL_TIMEOUT_MS);
    ctlWaiters.set(token, (s) => {
      clearTimeout(timer);
      resolve(s);
    });
  });
}

/** The flags to reopen one of this process's fds with (through /proc/PID/fd/N), creation taken out. */
function reopenFlags(fd: number): number {
  // F_GETFL, one syscall (reading /proc/self/fdinfo/N was three): the access mode and status flags,
  // never O_CREAT, O_EXCL or O_TRUNC (open-time only), without O_CLOEXEC (the shim adds it).
  return fileStatusFlags(fd);
}

/**
 * The client's fds 0-2 as the shim's stdio: their /proc/CLIENT/fd/N links with the flags to reopen
 * them with (`std`'s numbers are the client's fds, 'ignore' is /dev/null: null here); null when one
 * of them cannot be reopened as itself (daemon-protocol.ts), or is gone: the client spawns the shim
 * then. Blocking, whatever the client had: the payload expects blocking stdio, and a pipe's
 * O_NONBLOCK set by a Node client would otherwise reach it (it did before, through the shared
 * description).
 */
function clientStdio(pid: number, std: ShimInvocation['std']): Array<FdSource | null> | null {
  const { O_CREAT, O_EXCL, O_TRUNC, O_NONBLOCK } = fs.constants;
  try {
    return std.map((fd) => {
      if (fd === 'ignore') return null;
      const link = `/proc/${pid}/fd/${fd}`;
      const st = fs.statSync(link);
      const flags = fdFlags(pid, fd);
      if (!reopenable(st.mode, st.rdev, () => flags)) throw new Error(`${link} cannot be reopened`);
      return { path: link, flags: flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NONBLOCK) };
    });
  } catch {
    return null;
  }
}

/** The client's stdio (clientStdio) opened here, for a shim this process spawns. */
function reopenClientStdio(sources: Array<FdSource | null>): Array<number | 'ignore'> | null {
  const opened: number[] = [];
  try {
    return sources.map((src) => {
      if (src === null) return 'ignore';
      // O_CLOEXEC (02000000) too: the fd is this process's until the spawn dups it to 0-2.
      opened.push(fs.openSync(src.path, src.flags));
      return opened.at(-1)!;
    });
  } catch {
    for (const fd of opened) fs.closeSync(fd);
    return null;
  }
}

const b64 = (t: string) => Buffer.from(t).toString('base64');

let active = 0;
let lastRequest = Date.now();
let asideCount = 0;

/** The snapshots this daemon makes ahead (for its one store; set by serve()). */
let ahead: SnapshotsAhead | null = null;

/** Before the daemon's exit: what it made ahead goes with it. */
function exitDaemon(): never {
  ahead?.discardAll();
  dropSpareShim();
  dropNetworksAhead();
  process.exit(0);
}

/** Where removed layers wait for deletion: the store's tmp/, on the same filesystem. */
const asideDir = (root: string) => path.join(root, 'tmp');

/** A removed container's bridge teardown, due after the answer: `teardown-PID-ID` in tmp/. */
const teardownMark = (root: string, id: string) => path.join(asideDir(root), `teardown-${process.pid}-${id}`);

/**
 * Layers a daemon killed before deleting them left aside and the snapshots it had made ahead (their
 * names carry its PID), and the bridge teardowns it had not done yet (the container's record was
 * gone already: no `rm` would).
 */
function deleteLeftAside(root: string): void {
  for (const name of fs.readdirSync(asideDir(root), { withFileTypes: true }).map((e) => e.name)) {
    const torn = /^teardown-(\d+)-([0-9a-f]{64})$/.exec(name);
    if (torn && !pidAlive(Number(torn[1]))) {
      try {
        teardownNetwork(torn[2]!);
      } catch {
        /* left for the host's next boot, as after any failed teardown */
      }
      fs.rmSync(path.join(asideDir(root), name), { force: true });
      continue;
    }
    const pid = Number(/^(?:removing|ahead)-(\d+)-/.exec(name)?.[1]);
    if (!pid || pidAlive(pid)) continue;
    fs.rmSync(path.join(asideDir(root), name), { recursive: true, force: true });
    // A pair's cgroups, unless a container took its ID (then they hold its processes, or are gone).
    const made = /^ahead-\d+-([0-9a-f]{64})$/.exec(name)?.[1];
    if (made) removeIdleCgroups(`${CGROUP_PARENT}/${made}`);
  }
}

/**
 * STRATA_TRACE=1 in a client's environment traces its run here too: the daemon was started with
 * the environment of whichever client came first, so its own would trace all runs or none. The
 * lines go to that client's stderr, in ms since the client's start (its clock: `t0`), so they
 * interleave with the client's own.
 */
const traced = new AsyncLocalStorage<(label: string) => void>();
setTraceRouter(() => traced.getStore() ?? null);

/** One `run` from a client, on connection A; `rest` is what followed its request line. */
function handleRun(root: string, conn: net.Socket, req: RunRequest, rest: string): Promise<void> {
  if (req.env?.['STRATA_TRACE'] !== '1') return serveRun(root, conn, req, rest);
  const t0 = typeof req.t0 === 'number' ? req.t0 : performance.timeOrigin;
  const line = (label: string): void => {
    const text = traceLine(performance.timeOrigin + performance.now() - t0, `daemon: ${label}`);
    if (!conn.destroyed) conn.write(JSON.stringify({ e: b64(text) }) + '\n');
  };
  return traced.run(line, () => {
    trace('request received');
    return serveRun(root, conn, req, rest);
  });
}

async function serveRun(root: string, conn: net.Socket, req: RunRequest, rest: string): Promise<void> {
  const send = (m: DaemonMessage): void => {
    if (!conn.destroyed) conn.write(JSON.stringify(m) + '\n');
  };
  let closed = false;
  let onSpawned: { resolve(pid: number): void; reject(e: Error): void } | null = null;
  let onExit: ((code: number) => void) | null = null;
  const exitReported = new Promise<number>((r) => (onExit = r));
  const onClose: Array<() => void> = [];
  const onMessage = (m: ClientMessage): void => {
    if ('spawned' in m) onSpawned?.resolve(m.spawned);
    else if ('spawnError' in m)
      onSpawned?.reject(new StrataError(`could not start the shim: ${m.spawnError}`));
    else if ('exit' in m) onExit?.(m.exit);
  };
  let buf = rest;
  conn.setEncoding('utf8');
  const take = (): void => {
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      onMessage(JSON.parse(line) as ClientMessage);
    }
  };
  conn.on('data', (chunk: string) => ((buf += chunk), take()));
  conn.on('close', () => {
    closed = true;
    onSpawned?.reject(new StrataError('the client went away'));
    for (const f of onClose.splice(0)) f();
  });
  conn.resume();
  take();

  /** The shim's status: the client reports it; a client gone, the shim is watched until it ends. */
  const shimEnded = (pid: number): Promise<number> =>
    Promise.race([
      exitReported,
      new Promise<number>((resolve) => {
        const watch = () => {
          const t = setInterval(() => {
            if (!pidAlive(pid)) {
              clearInterval(t);
              resolve(255);
            }
          }, 50);
        };
        if (closed) watch();
        else onClose.push(watch);
      }),
    ]);

  let autoRemove = false;
  /** The shim started here with the client's stdio reopened; null: not possible, the client spawns it. */
  const startHere = async (inv: ShimInvocation): Promise<LaunchedShim | null> => {
    if (!req.stdio || inv.terminal || (inv.attachStdin && !req.stdio.stdin)) return null;
    const sources = clientStdio(req.stdio.pid, inv.std);
    if (!sources) return null;
    // The shim started ahead opens the client's stdio and the runtime's fds itself.
    const extra = inv.extra.map((fd) => ({ path: `/proc/${process.pid}/fd/${fd}`, flags: reopenFlags(fd) }));
    let shim = planSpareShim(inv, sources, extra);
    if (!shim) {
      const std = reopenClientStdio(sources);
      if (!std) return null;
      try {
        shim = posixSpawnShim({ ...inv, std });
      } finally {
        for (const fd of std) if (fd !== 'ignore') fs.closeSync(fd);
      }
    }
    send({
      started: {
        id: inv.id,
        shimPid: shim.pid,
        autoRemove,
        exitFile: path.join(root, 'containers', inv.id, 'exit'),
      },
    });
    return shim;
  };
  const launcher: ShimLauncher = async (inv) => {
    if (closed) throw new StrataError('the client went away');
    const here = await startHere(inv);
    if (here) return here;
    const spawned = new Promise<number>((resolve, reject) => (onSpawned = { resolve, reject }));
    if (closed) throw new StrataError('the client went away');
    send({
      spawn: {
        id: inv.id,
        autoRemove,
        shim: inv.shim,
        args: inv.args,
        env: inv.env,
        stdin: inv.std[0] === 0,
        fds: inv.extra.map((fd) => ({ path: `/proc/${process.pid}/fd/${fd}`, flags: reopenFlags(fd) })),
        terminal: inv.terminal,
        attachStdin: inv.attachStdin,
      },
    });
    const pid = await spawned;
    const ctl = await claimCtl(req.token);
    return {
      pid,
      ctl,
      exited: shimEnded(pid),
      kill: (signal) => {
        try {
          process.kill(pid, signal);
        } catch {
          /* gone already */
        }
      },
      unref: () => undefined,
      forwardTerminal: () => () => undefined, // the client's terminal: it does that
    };
  };

  // A removed container's layers and directory leave overlay2/ and containers/ at once (a rename)
  // and are deleted once the client has its answer: their rmdirs and unlinks were the biggest part
  // of a run's removal.
  const aside: string[] = [];
  const removeLater = (entry: string): void => {
    const to = path.join(asideDir(root), `removing-${process.pid}-${asideCount++}`);
    try {
      fs.renameSync(entry, to);
      aside.push(to);
    } catch {
      fs.rmSync(entry, { recursive: true, force: true });
    }
  };
  // A bridge's teardown (the veth's deletion waits for an RCU grace period in the kernel), after
  // the answer; a mark in tmp/ says it is due, should this daemon die first.
  const teardowns: string[] = [];
  const teardownLater = (id: string): void => {
    try {
      fs.writeFileSync(teardownMark(root, id), '');
      teardowns.push(id);
      trace(`network: teardown of ${id} after the answer`);
    } catch {
      teardownNetwork(id);
    }
  };
  const used: { snapshots: Overlay2Snapshotter | null } = { snapshots: null }; // set by configureBackend
  const ctx = commandContext({
    root,
    debug: req.debug,
    backendName: 'native',
    out: (t) => send({ o: b64(t) }),
    err: (t) => send({ e: b64(t) }),
    launcher,
    hostEnv: req.env,
    forwardSignals: (pid) => {
      send({ pid });
      return () => undefined;
    },
    configureBackend: (backend) => {
      const snapshots = (used.snapshots = backend.snapshots as Overlay2Snapshotter);
      snapshots.removeLater = removeLater;
      snapshots.ahead = ahead;
      // Only an --rm container's: one that stays may be started again, whose network a late
      // teardown would take down.
      if (autoRemove) (backend as NativeBackend).runtime.teardownLater = teardownLater;
    },
  });
  // The container's own directory too (its record, exit file, /etc files): one rename instead of
  // an unlink per file on the reply's path; `ps -a` no longer sees it either way.
  ctx.store().containers.removeLater = removeLater;
  let code: number;
  try {
    if (req.root !== root) throw new StrataError(`this daemon serves ${root}, not ${req.root}`);
    const [name, ...args] = req.args;
    if (name !== runCommand.name) throw new UsageError(`the daemon runs 'run' only, not '${name}'`);
    const parsed = parseFlags(runCommand.name, runCommand.flags, args, false);
    autoRemove = bool(parsed, 'rm');
    // The flags are read before run()'s first await: relative paths in them are the user's.
    const own = process.cwd();
    let pending: Promise<number>;
    try {
      process.chdir(req.cwd);
    } catch {
      /* a cwd gone meanwhile: absolute paths still work */
    }
    try {
      pending = runCommand.run(ctx, parsed);
    } finally {
      process.chdir(own);
    }
    code = await pending;
  } catch (e) {
    const r = errorReport(e, req.debug);
    send({ e: b64(r.text) });
    code = r.code;
  }
  trace('answered');
  send({ code });
  conn.end();
  // In the thread pool: other runs go on meanwhile.
  const deleted = Promise.all(
    aside.map((t) => fs.promises.rm(t, { recursive: true, force: true }).catch(() => undefined)),
  );
  // The next run finds a shim started (posix-spawn-shim.ts) and its image's snapshots made (SnapshotsAhead).
  keepSpareShim(shimPath());
  keepNetworksAhead();
  await used.snapshots?.refillAhead().catch(() => undefined);
  if (teardowns.length > 0) {
    await new Promise((r) => setImmediate(r)); // the answer leaves first
    for (const id of teardowns) {
      try {
        await teardownNetworkAsync(id);
      } catch {
        /* as a failed teardown in `rm`: the kernel objects stay until the host's next boot */
      }
      fs.rmSync(teardownMark(root, id), { force: true });
    }
  }
  await deleted;
}

function onConnection(root: string, conn: net.Socket): void {
  let head = Buffer.alloc(0);
  conn.on('error', () => undefined); // a client that went away: its run still completes
  const onData = (d: Buffer): void => {
    head = Buffer.concat([head, d]);
    const nl = head.indexOf(10);
    if (nl < 0) return;
    conn.off('data', onData);
    conn.pause();
    const first = head.subarray(0, nl).toString('utf8');
    const rest = head.subarray(nl + 1);
    if (first.startsWith('ctl ')) {
      if (rest.length > 0) conn.unshift(rest); // the shim's first line, should it be here already
      registerCtl(first.slice(4), conn);
      return;
    }
    let req: RunRequest;
    try {
      req = (JSON.parse(first) as { run: RunRequest }).run;
      if (typeof req?.token !== 'string' || !Array.isArray(req.args)) throw new Error('no run request');
    } catch (e) {
      conn.end(JSON.stringify({ e: b64(`strata: bad daemon request: ${(e as Error).message}\n`) }) + '\n');
      return;
    }
    active++;
    lastRequest = Date.now();
    void handleRun(root, conn, req, rest.toString('utf8')).finally(() => {
      active--;
      lastRequest = Date.now();
    });
  };
  conn.on('data', onData);
}

function connectOnce(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(sock);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** `strata --root ROOT native-daemon`: serve until idle or the store, socket or build is gone. */
export async function serve(root: string): Promise<number> {
  const self = import.meta.url;
  const build = buildOf(self);
  if (!build) throw new StrataError('the native daemon runs from a built dist/ only (npm run build)');
  const sock = daemonSocket(root, build);
  const log = sock.replace(/\.sock$/, '.log');
  const pointer = path.join(
    fileURLToPath(self.slice(0, self.indexOf(`/dist/${build}/`))),
    'dist',
    'strata.mjs',
  );
  fs.mkdirSync(DAEMON_DIR, { recursive: true, mode: 0o700 });
  if (await connectOnce(sock)) return 0; // another one serves this store already
  if (fs.existsSync(asideDir(root))) deleteLeftAside(root);
  ahead = new SnapshotsAhead(asideDir(root));
  // The cgroups of the container a pair is made for, made with it: their mkdirs (~0.3 ms on v1's
  // six hierarchies) leave the run's path.
  ahead.alongside = {
    made: (id) => void makeCgroups(`${CGROUP_PARENT}/${id}`, {}),
    unused: (id) => removeIdleCgroups(`${CGROUP_PARENT}/${id}`),
  };
  fs.rmSync(sock, { force: true }); // stale, from a daemon that died
  const server = net.createServer((conn) => onConnection(root, conn));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sock, () => resolve());
  });
  fs.chmodSync(sock, 0o600);
  keepSpareShim(shimPath()); // for the first run
  const ino = fs.statSync(sock).ino;
  /** Why to stop, or null: the socket replaced, the store root gone, or dist/ rebuilt. */
  const stale = (): 'replaced' | 'root' | 'build' | null => {
    if (fs.statSync(sock, { throwIfNoEntry: false })?.ino !== ino) return 'replaced';
    if (!fs.existsSync(root)) return 'root';
    try {
      return fs.readFileSync(pointer, 'utf8').includes(`./${build}/`) ? null : 'build';
    } catch {
      return 'build';
    }
  };
  let draining = false;
  setInterval(() => {
    if (draining) {
      if (active === 0 || !fs.existsSync(root)) exitDaemon();
      return;
    }
    const why = stale();
    // A daemon killed just before this one started may have been still dying then.
    if (why === null && active === 0 && fs.existsSync(asideDir(root))) deleteLeftAside(root);
    if (why === null && (active > 0 || Date.now() - lastRequest < IDLE_MS)) return;
    // Another daemon's socket (two started at once) is that one's; a removed store has nothing
    // left to finish: stop at once.
    if (why === 'replaced') exitDaemon();
    draining = true;
    fs.rmSync(log, { force: true });
    server.close(); // which removes the socket: no new runs; those under way finish
    if (active === 0 || why === 'root') exitDaemon();
  }, WATCH_MS);
  process.stdout.write(`strata native daemon for ${root} (${build}): ${sock}, pid ${process.pid}\n`);
  return new Promise<number>(() => undefined); // it ends by process.exit above
}
