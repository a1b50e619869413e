// The native runtime: the container is made by the small single-threaded shim
// (stage/strata-shim.c, setup.c), which this side hands the whole plan: overlay, namespaces,
// mounts, devices, pivot_root, PID 1 (docs/native-backend.md). A plain `run` therefore costs one
// spawn and no syscall binding here; koffi (libc.ts) is loaded only for a bridge's veth (from this
// thread inside the shim's network namespace) and for `exec`.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type {
  NetworkAttachment,
  Runtime,
  RuntimeStatus,
  StartedProcess,
  StdioSpec,
} from '../../shared/src/backend.js';
import type { ContainerSpec, ProcessSpec } from '../../shared/src/spec.js';
import { EXIT, StrataError } from '../../shared/src/errors.js';
import { pidAlive, readTextIfExists } from '../../shared/src/store/fsutil.js';
import { createCgroups, makeCgroups, openCgroups, removeCgroups } from './cgroups.js';
import { holdCgroupMovesOpen } from './cgroup-warm.js';
import {
  attachNetwork,
  configureTakenNetwork,
  enterNetwork,
  joinedNetFd,
  prepareNetwork,
  teardownNetwork,
  unpublishNetwork,
  unshareNetFlag,
  type NetworkPlan,
} from './network.js';
import { CLONE, SyscallError, detachIfMounted, setns, setWindowSize, unlockPty } from './libc.js';
import { deviceArgs, mountArgs } from './run-plan.js';
import { forwardTerminal } from './forward-terminal.js';
import { resolveUser } from './users.js';
import { parseExitFile } from '../../shared/src/exit-file.js';
import { findUp } from '../../shared/src/find-up.js';
import { isRootless } from './rootless.js';
import { confinement } from './security.js';
import { trace } from '../../shared/src/trace.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The shim binary built by `npm run build` (scripts/build.mjs). */
export function shimPath(): string {
  const found = process.env.STRATA_SHIM ?? findUp(here, 'build/strata-shim');
  if (found && fs.existsSync(found)) return found;
  throw new StrataError(
    `strata-shim is not built (looked for build/strata-shim above ${here}): run 'npm run build'`,
  );
}

function openNs(pid: number | 'thread-self', kinds: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  const base = pid === 'thread-self' ? '/proc/thread-self/ns' : `/proc/${pid}/ns`;
  for (const k of kinds) out.set(k, fs.openSync(path.join(base, k), 'r'));
  return out;
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* the relay's stream may have closed it already */
  }
}

function closeAll(fds: Iterable<number>): void {
  for (const fd of fds) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
  }
}

const NS_FLAG: Record<string, number> = {
  mnt: CLONE.NEWNS,
  uts: CLONE.NEWUTS,
  ipc: CLONE.NEWIPC,
  net: CLONE.NEWNET,
  pid: CLONE.NEWPID,
  cgroup: CLONE.NEWCGROUP,
};

function envObject(env: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    const i = e.indexOf('=');
    if (i > 0) out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

function userArgs(u: { uid: number; gid: number; additionalGids: number[] }): string[] {
  return [
    '--uid',
    String(u.uid),
    '--gid',
    String(u.gid),
    ...u.additionalGids.flatMap((g) => ['--group', String(g)]),
  ];
}

/** Read "key value" lines from the shim's control socket. */
function lineReader(sock: Socket): () => Promise<string | null> {
  let buf = '';
  let ended = false;
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => ((buf += d), wake()));
  sock.resume(); // a daemon's control connection arrives paused (native-daemon.ts)
  sock.on('end', () => ((ended = true), wake()));
  sock.on('close', () => ((ended = true), wake()));
  sock.on('error', () => ((ended = true), wake()));
  return async () => {
    for (;;) {
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        return line;
      }
      if (ended) return null;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
}

function execFailure(detail: string, argv0: string, cwd: string): StrataError {
  // detail: "exec <errno> <path>" or "cwd <errno> <path>", as the shim reports it.
  const [kind, errnoText] = detail.split(' ');
  const errno = Number(errnoText);
  if (kind === 'cwd') {
    return new StrataError(
      `failed to start container: chdir to cwd ("${cwd}") set in config.json failed: ${errnoName(errno)}`,
      EXIT.CANNOT_INVOKE,
    );
  }
  if (errno === 2 || errno === 20) {
    const what = argv0.includes('/')
      ? `stat ${argv0}: no such file or directory`
      : `exec: "${argv0}": executable file not found in $PATH`;
    return new StrataError(`failed to start container: ${what}`, EXIT.NOT_FOUND);
  }
  return new StrataError(`failed to start container: exec ${argv0}: ${errnoName(errno)}`, EXIT.CANNOT_INVOKE);
}

function errnoName(errno: number): string {
  return new SyscallError('', errno).message.replace(/^: /, '');
}

/**
 * A failure the shim reported: PID 1's "exec ERRNO PATH" or "cwd ERRNO PATH", its own steps'
 * "ERRNO WHAT", or PID 1's "WHAT: REASON".
 */
function shimFailure(detail: string, spec: ContainerSpec): StrataError {
  if (/^(exec|cwd) /.test(detail)) return execFailure(detail, spec.process.args[0] ?? '', spec.process.cwd);
  const m = /^(\d+) (.*)$/.exec(detail);
  return new StrataError(`failed to start container: ${m ? `${m[2]}: ${errnoName(Number(m[1]))}` : detail}`);
}

/** Bridge: the veth and address are made from this thread inside the shim's new network namespace. */
function enterNetworkOf(pid: number, plan: NetworkPlan): void {
  const host = fs.openSync('/proc/thread-self/ns/net', 'r');
  const target = fs.openSync(`/proc/${pid}/ns/net`, 'r');
  try {
    setns(target, CLONE.NEWNET, `/proc/${pid}/ns/net`);
    try {
      enterNetwork(plan, host);
    } finally {
      setns(host, CLONE.NEWNET, 'host net');
    }
  } finally {
    closeAll([host, target]);
  }
}

/**
 * A bridge's netns mount and published ports, given back as soon as the payload is reaped: the
 * same idempotent step as the cleanup's, which a stop (release) or `rm` then finds done. The
 * unmount's grace period (~0.4 ms) then overlaps the monitor's own unmount and cgroup removal.
 */
function releaseNetworkAtExit(id: string): void {
  try {
    unpublishNetwork(id);
    trace('network: released at the payload exit');
  } catch {
    /* the cleanup does it again, and reports */
  }
}

/**
 * How a shim is started: spawned here, or (the warm daemon's attached runs, cli/src/native-daemon.ts)
 * by the thin client that owns the terminal, so the shim gets the user's own stdio.
 */
export interface ShimInvocation {
  /** The container's. */
  id: string;
  shim: string;
  args: string[];
  env: Record<string, string>;
  /** fds 0-2: a number is this process's fd, 'ignore' is /dev/null. */
  std: Array<number | 'ignore'>;
  /** Become the shim's fds 4, 5, ...; the caller closes them once the launch has resolved. */
  extra: number[];
  terminal: boolean;
  attachStdin: boolean;
}

export interface LaunchedShim {
  pid: number;
  /** The shim's control socket (its fd 3). */
  ctl: Socket;
  /** The shim's exit status, once it has ended. */
  exited: Promise<number>;
  kill(signal: NodeJS.Signals): void;
  /** A detached monitor outlives this process. */
  unref(): void;
  /** Foreground -t: the terminal goes raw and its resizes pass on; returns the undo. */
  forwardTerminal(): () => void;
}

export type ShimLauncher = (inv: ShimInvocation) => Promise<LaunchedShim>;

/** The shim as this process's child. */
export async function spawnShim(inv: ShimInvocation): Promise<LaunchedShim> {
  const child = spawn(inv.shim, inv.args, {
    stdio: [...inv.std, 'pipe', ...inv.extra],
    env: inv.env,
    detached: true,
  });
  if (child.pid === undefined) throw new StrataError(`could not start ${inv.shim}`);
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? 15 : 0))),
  );
  return {
    pid: child.pid,
    ctl: child.stdio[3] as Socket,
    exited,
    kill: (s) => void child.kill(s),
    unref: () => child.unref(),
    forwardTerminal: () => forwardTerminal(child, inv.attachStdin),
  };
}

/** Relay a pty master to our own stdio in raw mode (foreground -t). */
function relayTerminal(master: number, stdin: boolean): () => Promise<void> {
  const out = fs.createReadStream('', { fd: master, autoClose: false, highWaterMark: 65536 });
  out.on('data', (d) => process.stdout.write(d));
  out.on('error', () => undefined); // EIO when the last slave closes
  const input = process.stdin;
  const raw = input.isTTY === true;
  const onData = (d: Buffer) => {
    try {
      fs.writeSync(master, d);
    } catch {
      /* the container is gone */
    }
  };
  const onResize = () => {
    if (process.stdout.isTTY) setWindowSize(master, process.stdout.rows, process.stdout.columns);
  };
  if (process.stdout.isTTY) onResize();
  process.stdout.on('resize', onResize);
  if (stdin) {
    if (raw) input.setRawMode(true);
    input.on('data', onData);
    input.resume();
  }
  // What the command wrote just before it ended is still in the pty: read until the master says
  // EIO (no slave left open), or a moment at most (something it started may hold the slave).
  const drained = new Promise<void>((resolve) => {
    out.once('error', () => resolve());
    out.once('end', () => resolve());
  });
  return async () => {
    await Promise.race([drained, new Promise((r) => setTimeout(r, 250).unref())]);
    out.destroy();
    process.stdout.off('resize', onResize);
    if (stdin) {
      input.off('data', onData);
      if (raw) input.setRawMode(false);
      input.pause();
    }
  };
}

export class NativeRuntime implements Runtime {
  /**
   * Set by the warm daemon for a `run --rm` (cli/src/native-daemon.ts): a bridge's teardown past
   * its netns mount and published ports (the veth, then the lease and state) is handed to it, to
   * run once the client has its answer. Deleting the veth waits in the kernel for an RCU grace
   * period (18 ms of a run's 47 above node: netdev_run_todo's rcu_barrier) and the container is
   * gone from the store by then, so nothing can reuse what the teardown still holds.
   */
  teardownLater: ((id: string) => void) | null = null;

  /** `launcher` starts the shim of attached runs (the daemon's client); detached ones stay here. */
  constructor(private readonly launcher: ShimLauncher | null = null) {}

  /** Cgroups made by prepareStart, by path, with the hold on cgroup moves taken then. */
  private readonly early = new Map<string, { dirs: string[]; release: () => void }>();

  /**
   * `run`: the container's cgroups are made while its record and snapshots are, and on cgroup v2
   * the grace period its PID 1's move would wait starts then (cgroup-warm.ts): ~3 ms more of it
   * passes before the shim gets there. A start that never comes lets go of the hold within seconds.
   */
  prepareStart(cgroup: ContainerSpec['cgroup']): () => void {
    const dirs = makeCgroups(cgroup.path, cgroup.limits);
    const hold = holdCgroupMovesOpen();
    const forget = (): void => {
      clearTimeout(timer);
      hold();
      this.early.delete(cgroup.path);
    };
    const timer = setTimeout(forget, 10_000).unref();
    this.early.set(cgroup.path, { dirs, release: forget });
    return () => {
      forget();
      removeCgroups(cgroup.path);
    };
  }

  async start(
    spec: ContainerSpec,
    stdio: StdioSpec,
    stateDir: string,
    onExit: string[] = [],
  ): Promise<StartedProcess> {
    let releaseCgroupMoves = (): void => undefined;
    try {
      return await this.startShim(spec, stdio, stateDir, onExit, (release) => (releaseCgroupMoves = release));
    } finally {
      releaseCgroupMoves();
    }
  }

  private async startShim(
    spec: ContainerSpec,
    stdio: StdioSpec,
    stateDir: string,
    onExit: string[],
    holdingCgroupMoves: (release: () => void) => void,
  ): Promise<StartedProcess> {
    const shim = shimPath();
    const merged = spec.rootfs.mergedDir;
    const r = spec.rootfs;
    // In a user namespace overlayfs keeps its whiteout/opaque marks in user.* xattrs (userxattr).
    const overlayData = `lowerdir=${r.lowerDirs.join(':')},upperdir=${r.upperDir},workdir=${r.workDir}${isRootless() ? ',userxattr' : ''}`;
    const early = this.early.get(spec.cgroup.path);
    this.early.delete(spec.cgroup.path);
    const cg = early ? openCgroups(early.dirs) : createCgroups(spec.cgroup.path, spec.cgroup.limits);
    trace('runtime: cgroups created');
    // v2: PID 1's move into these cgroups would otherwise wait an RCU grace period (cgroup-warm.ts;
    // on v1 it moves itself, which waits for nothing): it starts now (or started in prepareStart),
    // before the network's plan, to pass while the rest is made. Not before the mkdirs: the grace
    // period is waited for holding cgroup_mutex, which mkdir takes.
    holdingCgroupMoves(holdCgroupMovesOpen());
    early?.release();
    const cgFds = [...cg.joinFds, ...(cg.oomFd !== null ? [cg.oomFd] : [])];
    let netPlan: NetworkPlan;
    try {
      netPlan = await prepareNetwork(spec);
    } catch (e) {
      closeAll(cgFds);
      throw e; // the engine's cleanup removes the cgroups
    }
    // Open until the shim's first line (a shim started ahead opens them through this process's /proc).
    const joinNetFd = joinedNetFd(netPlan);
    const owned: number[] = [...cgFds, ...(joinNetFd !== null ? [joinNetFd] : [])];
    let stateFd: number;
    let logFd: number | null = null;
    let conf: ReturnType<typeof confinement>;
    try {
      stateFd = fs.openSync(stateDir, 'r');
      owned.push(stateFd);
      if (stdio.kind === 'log') {
        logFd = fs.openSync(stdio.path, 'a', 0o640);
        owned.push(logFd);
      }
      // Capabilities, masks, seccomp for the shim (docs/security.md); its temp file is on the host.
      conf = confinement(spec.security);
    } catch (e) {
      closeAll(owned);
      throw e;
    }
    if (conf.fd !== null) owned.push(conf.fd);
    const fdArgs: string[] = [];
    const extra: number[] = [];
    const pass = (flag: string, fd: number) => {
      fdArgs.push(flag, String(4 + extra.length)); // 0-2 stdio, 3 control socket
      extra.push(fd);
    };
    pass('--state-fd', stateFd);
    for (const fd of cg.joinFds) pass('--cgroup-fd', fd);
    if (cg.oomFd !== null) pass('--oom-fd', cg.oomFd);
    if (conf.fd !== null) pass('--seccomp-fd', conf.fd);
    if (joinNetFd !== null) pass('--join-net-fd', joinNetFd);
    const terminal = spec.process.terminal;
    const attachStdin = stdio.kind === 'attach' && stdio.stdin;
    // The whole filesystem plan goes to the shim (stage/setup.c): this process makes no mount and
    // needs no syscall binding on this path; `-t` gets its pty there too, relayed by the shim.
    const args = [
      'run',
      '--ctl-fd',
      '3',
      ...fdArgs,
      '--rootfs',
      merged,
      '--overlay',
      overlayData,
      ...(spec.process.cwd !== '/' ? ['--mkdir', spec.process.cwd] : []),
      ...(unshareNetFlag(netPlan) !== 0 ? ['--unshare-net', '--lo-up'] : []),
      ...mountArgs(spec.mounts),
      ...deviceArgs(spec),
      ...(isRootless() ? ['--bind-devices'] : []),
      ...(r.readonly ? ['--readonly-rootfs'] : []),
      '--hostname',
      spec.hostname,
      ...(terminal ? ['--tty', '--alloc-tty', ...(attachStdin ? ['--tty-stdin'] : [])] : []),
      '--cleanup-mount',
      merged,
      ...cg.dirs.flatMap((d) => ['--cgroup-dir', d]),
      ...(cg.joinSelf ? ['--cgroup-self'] : []),
      ...(spec.namespaces.includes('cgroup') ? ['--cgroupns'] : []),
      ...(spec.init ? ['--init'] : []),
      ...onExit.flatMap((a) => ['--then', a]),
      '--cwd',
      spec.process.cwd,
      ...conf.args,
      '--',
      ...spec.process.args,
    ];
    const std: Array<number | 'ignore'> =
      stdio.kind === 'log' ? ['ignore', logFd!, logFd!] : [attachStdin ? 0 : 'ignore', 1, 2];
    const launch = stdio.kind === 'attach' && this.launcher ? this.launcher : spawnShim;
    let child: LaunchedShim;
    try {
      child = await launch({
        id: spec.id,
        shim,
        args,
        env: envObject(spec.process.env),
        std,
        extra,
        terminal,
        attachStdin,
      });
    } catch (e) {
      closeAll(owned);
      throw e;
    }
    const shimPid = child.pid;
    trace('runtime: shim spawned');
    const ctl = child.ctl;
    const readLine = lineReader(ctl);
    const exited = child.exited;
    const abort = async (e: unknown): Promise<never> => {
      child.kill('SIGKILL'); // still waiting for its go line: nothing ran
      ctl.destroy();
      await exited;
      throw e;
    };
    const failure = (line: string | null) =>
      line?.startsWith('error ')
        ? shimFailure(line.slice(6), spec)
        : new StrataError('failed to start container: strata-shim exited before starting it');

    // A network made ahead needs nothing from the shim: it becomes the container's while the shim
    // mounts the rootfs.
    let network: NetworkAttachment | undefined;
    let networkError: unknown = null;
    if (netPlan.mode === 'bridge' && netPlan.takenAhead !== undefined) {
      try {
        configureTakenNetwork(netPlan);
        network = attachNetwork(netPlan);
      } catch (e) {
        networkError = e;
      }
    }
    const mounted = await readLine();
    // Not before: a shim started ahead (the daemon's) opens these through this process's /proc.
    closeAll(owned);
    if (networkError !== null) return abort(networkError);
    const rootFd = /^mounted (\d+)$/.exec(mounted ?? '')?.[1];
    if (rootFd === undefined) return abort(failure(mounted));
    trace('runtime: shim mounted the rootfs');
    let goLine: string;
    try {
      // The user is looked up in the container's own /etc/passwd, through the rootfs fd the shim
      // holds for it until the go line (its root changes meanwhile: it goes on with PID 1).
      const user = resolveUser(`/proc/${shimPid}/fd/${rootFd}`, spec.process.user);
      goLine = `g ${[user.uid, user.gid, ...user.additionalGids].join(' ')}\n`;
      if (netPlan.mode === 'bridge' && netPlan.takenAhead === undefined) {
        enterNetworkOf(shimPid, netPlan);
        try {
          network = attachNetwork(netPlan);
        } finally {
          fs.closeSync(netPlan.nsFd!);
        }
      }
    } catch (e) {
      return abort(e);
    }
    ctl.write(goLine);
    let pid = 0;
    let error: StrataError | null = null;
    for (;;) {
      const line = await readLine();
      if (line === null) break;
      if (line.startsWith('pid ')) pid = Number(line.slice(4));
      else if (line === 'ok') break;
      else if (line.startsWith('error ')) {
        error = shimFailure(line.slice(6), spec);
        break;
      }
    }
    const attached = stdio.kind !== 'log' && pid !== 0 && error === null;
    if (!attached) ctl.destroy();
    if (pid === 0 && error === null) {
      const code = await exited;
      error = new StrataError(
        `failed to start container: strata-shim exited with status ${code} before starting it`,
      );
    }
    if (error) {
      await exited;
      throw error;
    }
    trace('runtime: payload started');

    if (stdio.kind === 'log') {
      child.unref();
      return { pid, monitorPid: shimPid, ...(network ? { network } : {}) };
    }
    const stopTerminal = terminal ? child.forwardTerminal() : () => undefined;
    // The monitor says "exited" once the payload is reaped (with PID 1 the whole container's
    // processes are gone), then "done" once the container is gone from the host (rootfs unmounted,
    // cgroups removed), just before it exits; its own exit (the overlay's teardown) is not waited
    // for. A bridge's network is released in between, while the monitor cleans up.
    const cleanedUp = (async () => {
      for (;;) {
        const line = await Promise.race([readLine(), exited.then(() => null)]);
        if (line !== 'exited') return;
        if (netPlan.mode === 'bridge') releaseNetworkAtExit(spec.id);
      }
    })();
    const exit = cleanedUp.then(() => {
      ctl.destroy();
      trace('runtime: monitor exited');
      stopTerminal();
      const text = readTextIfExists(path.join(stateDir, 'exit'));
      if (text === null) throw new StrataError('container monitor ended without recording an exit status');
      return parseExitFile(text);
    });
    return { pid, monitorPid: shimPid, exit, ...(network ? { network } : {}) };
  }

  async exec(
    spec: ContainerSpec,
    pid: number,
    proc: ProcessSpec,
    stdio: Extract<StdioSpec, { kind: 'attach' }>,
  ): Promise<number> {
    const shim = shimPath();
    const kinds = ['cgroup', 'ipc', 'uts', 'net', 'pid'];
    let target: Map<string, number>;
    try {
      target = openNs(pid, [...kinds, 'mnt']);
    } catch {
      throw new StrataError(`container ${spec.id.slice(0, 12)} is not running`);
    }
    const host = new Map<string, number>();
    for (const k of kinds) host.set(k, fs.openSync(`/proc/self/ns/${k}`, 'r'));
    const rootfs = `/proc/${pid}/root`;
    const user = resolveUser(rootfs, proc.user);
    const joined = createCgroups(spec.cgroup.path, {});
    // The shim's first step is its move into the cgroups: on v2 its grace period starts here (cgroup-warm.ts).
    holdCgroupMovesOpen()();
    const joinFds = joined.joinFds;
    if (joined.oomFd !== null) fs.closeSync(joined.oomFd); // only the run monitor reads it

    let master: number | null = null;
    let slave: number | null = null;
    if (proc.terminal) {
      master = fs.openSync(`${rootfs}/dev/pts/ptmx`, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
      const n = unlockPty(master);
      slave = fs.openSync(`${rootfs}/dev/pts/${n}`, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    }
    // An exec'd process is confined as the container's PID 1 (capabilities, seccomp).
    const conf = confinement(spec.security);
    const extra = [target.get('mnt')!, ...joinFds, ...(conf.fd !== null ? [conf.fd] : [])];
    const args = [
      'exec',
      '--mntns-fd',
      '3',
      ...joinFds.flatMap((_, i) => ['--cgroup-fd', String(4 + i)]),
      ...(joined.joinSelf ? ['--cgroup-self'] : []),
      ...(proc.terminal ? ['--tty'] : []),
      '--cwd',
      proc.cwd,
      ...userArgs(user),
      ...conf.args,
      ...(conf.fd !== null ? ['--seccomp-fd', String(3 + extra.length - 1)] : []),
      '--',
      ...proc.args,
    ];
    let child: ChildProcess;
    const std = slave !== null ? [slave, slave, slave] : [stdio.stdin ? 0 : 'ignore', 1, 2];
    try {
      for (const k of kinds) setns(target.get(k)!, NS_FLAG[k]!, `/proc/${pid}/ns/${k}`);
      child = spawn(shim, args, {
        stdio: [...std, ...extra] as Array<number | 'ignore'>,
        env: envObject(proc.env),
        detached: true,
      });
    } finally {
      // Rootless: the host's namespaces belong to the initial user namespace and cannot be
      // re-entered; this thread only waits for the command from here on, so it may stay.
      if (!isRootless()) for (const k of kinds) setns(host.get(k)!, NS_FLAG[k]!, `host ${k}`);
      closeAll([...target.values(), ...host.values(), ...joinFds, ...(slave !== null ? [slave] : [])]);
      if (conf.fd !== null) closeAll([conf.fd]);
    }
    const stopRelay = master !== null ? relayTerminal(master, stdio.stdin) : async () => undefined;
    const onSignal = (sig: NodeJS.Signals) => child.pid && process.kill(child.pid, sig);
    if (master === null) for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, onSignal);
    const code = await new Promise<number>((resolve) =>
      child.on('exit', (c, sig) => resolve(c ?? 128 + (sig ? (typeof sig === 'string' ? 15 : 0) : 0))),
    );
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.off(s, onSignal);
    await stopRelay();
    if (master !== null) closeQuietly(master);
    return code;
  }

  async status(stateDir: string, pid: number | null, monitorPid: number | null): Promise<RuntimeStatus> {
    const text = readTextIfExists(path.join(stateDir, 'exit'));
    if (text !== null) return { status: 'exited', exit: parseExitFile(text) };
    if (pid && pidAlive(pid)) return { status: 'running', pid };
    if (monitorPid && pidAlive(monitorPid)) return { status: 'running', pid: pid ?? 0 };
    return {
      status: 'unknown',
      reason: 'the container process and its monitor are gone without an exit status',
    };
  }

  async kill(pid: number, signal: NodeJS.Signals | number): Promise<void> {
    try {
      process.kill(pid, signal);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }

  async cleanup(spec: ContainerSpec): Promise<void> {
    detachIfMounted(spec.rootfs.mergedDir);
    removeCgroups(spec.cgroup.path);
    // Only a bridge leaves host state (veth, lease, NAT, netns mount): none, host and container:
    // modes have nothing to undo, and skipping them keeps koffi unloaded on their `rm`.
    if (spec.network?.mode !== 'bridge') return;
    if (this.teardownLater) {
      unpublishNetwork(spec.id);
      this.teardownLater(spec.id);
    } else teardownNetwork(spec.id);
  }
}
