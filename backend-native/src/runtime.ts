// The native runtime: real namespaces, mounts and pivot_root through koffi, plus the small
// single-threaded shim (stage/strata-shim.c) for what must run inside the new PID namespace.
// The order is the one docs/native-backend.md explains: the Node main thread enters new mount, UTS,
// IPC and network namespaces, mounts everything, spawns the shim, pivot_roots both of them into the
// rootfs, then returns to the host's namespaces and releases the shim.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Runtime, RuntimeStatus, StartedProcess, StdioSpec } from '../../shared/src/backend.js';
import type { ContainerSpec, MountSpec, ProcessSpec } from '../../shared/src/spec.js';
import { DEV_SYMLINKS } from '../../shared/src/spec.js';
import { EXIT, StrataError } from '../../shared/src/errors.js';
import { pidAlive, readTextIfExists } from '../../shared/src/store/fsutil.js';
import { createCgroups, removeCgroups } from './cgroups.js';
import { attachNetwork, enterNetwork, prepareNetwork, teardownNetwork, unshareNetFlag } from './network.js';
import {
  CLONE,
  MNT_DETACH,
  MS,
  SyscallError,
  chdir,
  mknodChar,
  mount,
  pivotRoot,
  sethostname,
  setns,
  setWindowSize,
  umount2,
  pipe,
  unlockPty,
  unshare,
} from './libc.js';
import { mkdirInside, secureJoin } from './secure-join.js';
import { resolveUser } from './users.js';
import { parseExitFile } from '../../shared/src/exit-file.js';
import { findUp } from '../../shared/src/find-up.js';
import { isRootless } from './rootless.js';
import { confinement, makeHostDevices } from './security.js';
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

const FLAG_OPTIONS: Record<string, number> = {
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  relatime: MS.RELATIME,
  strictatime: MS.STRICTATIME,
  noatime: MS.NOATIME,
  bind: MS.BIND,
  rbind: MS.BIND | MS.REC,
};
const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
};

function parseOptions(options: string[]): { flags: number; propagation: number; data: string[] } {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const o of options) {
    if (o === 'rw') continue;
    const f = FLAG_OPTIONS[o];
    const p = PROPAGATION[o];
    if (f !== undefined) flags |= f;
    else if (p !== undefined) propagation |= p;
    else data.push(o);
  }
  return { flags, propagation, data };
}

/** One OCI-style mount inside the rootfs (called inside the container's mount namespace). */
function applyMount(rootfs: string, m: MountSpec): void {
  const { flags, propagation, data } = parseOptions(m.options);
  const isBind = m.type === 'bind' || (flags & MS.BIND) !== 0;
  let target: string;
  if (isBind && !fs.statSync(m.source).isDirectory()) {
    target = secureJoin(rootfs, m.destination);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (!fs.existsSync(target)) fs.writeFileSync(target, '');
  } else {
    target = mkdirInside(rootfs, m.destination);
  }
  if (isBind) {
    mount(m.source, target, null, MS.BIND | (flags & MS.REC), null);
    // Bind mounts ignore other flags on creation: apply them with a remount (how `:ro` works).
    const extra = flags & ~(MS.BIND | MS.REC);
    if (extra !== 0) mount(null, target, null, MS.BIND | MS.REMOUNT | extra, null);
  } else {
    mount(m.source, target, m.type, flags, data.length > 0 ? data.join(',') : null);
  }
  if (propagation !== 0) mount(null, target, null, propagation, null);
}

function makeDevices(rootfs: string, spec: ContainerSpec): void {
  for (const d of spec.devices) {
    const target = secureJoin(rootfs, d.path);
    if (isRootless()) {
      // A user namespace may not mknod devices: bind the host's nodes instead, as runc rootless.
      fs.writeFileSync(target, '');
      mount(d.path, target, null, MS.BIND, null);
      continue;
    }
    mknodChar(target, d.mode, d.major, d.minor);
    fs.chmodSync(target, d.mode); // mknod is subject to the umask
  }
  for (const [link, target] of DEV_SYMLINKS) {
    const at = secureJoin(rootfs, link);
    fs.rmSync(at, { force: true });
    fs.symlinkSync(target, at);
  }
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

let fsUnshared = false;
/** setns(CLONE_NEWNS) needs a thread that does not share its fs_struct with the others. */
function ensureOwnFs(): void {
  if (!fsUnshared) {
    unshare(CLONE.FS);
    fsUnshared = true;
  }
}

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

/** Relay a pty master to our own stdio in raw mode (foreground -t). */
function relayTerminal(master: number, stdin: boolean): () => void {
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
  return () => {
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
  async start(
    spec: ContainerSpec,
    stdio: StdioSpec,
    stateDir: string,
    onExit: string[] = [],
  ): Promise<StartedProcess> {
    const shim = shimPath();
    const merged = spec.rootfs.mergedDir;
    const r = spec.rootfs;
    // In a user namespace overlayfs keeps its whiteout/opaque marks in user.* xattrs (userxattr).
    const overlayData = `lowerdir=${r.lowerDirs.join(':')},upperdir=${r.upperDir},workdir=${r.workDir}${isRootless() ? ',userxattr' : ''}`;
    // Read-write at first even with --read-only: mount points (--tmpfs, -v) may still need creating;
    // the container's view is made read-only once they are mounted, as runc does.
    mount('overlay', merged, 'overlay', 0, overlayData);
    trace('runtime: overlay mounted');

    // Resolve the user and create the workdir while the rootfs is visible from the host.
    const user = resolveUser(merged, spec.process.user);
    if (spec.process.cwd !== '/') {
      fs.mkdirSync(secureJoin(merged, spec.process.cwd), { recursive: true, mode: 0o755 });
    }

    const netPlan = await prepareNetwork(spec);
    const cg = createCgroups(spec.cgroup.path, spec.cgroup.limits);
    trace('runtime: cgroups created');
    const hostNs = openNs('thread-self', ['mnt', 'uts', 'ipc', 'net', 'pid', 'cgroup']);
    const stateFd = fs.openSync(stateDir, 'r');
    const owned: number[] = [stateFd, ...cg.procsFds, ...(cg.oomFd !== null ? [cg.oomFd] : [])];
    let logFd: number | null = null;
    if (stdio.kind === 'log') {
      logFd = fs.openSync(stdio.path, 'a', 0o640);
      owned.push(logFd);
    }
    // Capabilities, masks, seccomp for the shim (docs/security.md); its temp file is on the host.
    const conf = confinement(spec.security);
    if (conf.fd !== null) owned.push(conf.fd);
    const savedCwd = process.cwd();
    let child: ChildProcess | undefined;
    let master: number | null = null;
    ensureOwnFs();
    unshare(CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWIPC | unshareNetFlag(netPlan));
    try {
      // Synchronous from here to setns(): async fs work would run on libuv's pool threads, which
      // are still in the host's namespaces.
      mount(null, '/', null, MS.REC | MS.PRIVATE, null);
      for (const m of spec.mounts) {
        if (m.type === 'proc')
          mkdirInside(merged, m.destination); // mounted by PID 1 itself
        else applyMount(merged, m);
      }
      makeDevices(merged, spec);
      if (spec.security?.privileged) makeHostDevices(merged);
      if (r.readonly) mount(null, merged, null, MS.BIND | MS.REMOUNT | MS.RDONLY, null);
      sethostname(spec.hostname);
      enterNetwork(netPlan, hostNs.get('net')!);

      let slave: number | null = null;
      if (spec.process.terminal) {
        master = fs.openSync(
          secureJoin(merged, '/dev/pts/ptmx'),
          fs.constants.O_RDWR | fs.constants.O_NOCTTY,
        );
        const n = unlockPty(master);
        slave = fs.openSync(secureJoin(merged, `/dev/pts/${n}`), fs.constants.O_RDWR | fs.constants.O_NOCTTY);
        owned.push(slave);
      }
      const fdArgs: string[] = [];
      const extra: number[] = [];
      const nextFd = () => 4 + extra.length; // 0-2 stdio, 3 control socket
      fdArgs.push('--state-fd', String(nextFd()));
      extra.push(stateFd);
      const [readyRead, readyWrite] = pipe();
      owned.push(readyRead, readyWrite);
      fdArgs.push('--ready-fd', String(nextFd()));
      extra.push(readyWrite);
      for (const fd of hostNs.values()) {
        fdArgs.push('--host-ns-fd', String(nextFd()));
        extra.push(fd);
      }
      for (const fd of cg.procsFds) {
        fdArgs.push('--cgroup-fd', String(nextFd()));
        extra.push(fd);
      }
      if (cg.oomFd !== null) {
        fdArgs.push('--oom-fd', String(nextFd()));
        extra.push(cg.oomFd);
      }
      if (master !== null && stdio.kind === 'log') {
        fdArgs.push('--relay-fd', String(nextFd()));
        extra.push(master);
      }
      if (conf.fd !== null) {
        fdArgs.push('--seccomp-fd', String(nextFd()));
        extra.push(conf.fd);
      }
      const args = [
        'run',
        '--ctl-fd',
        '3',
        ...fdArgs,
        '--cleanup-mount',
        merged,
        ...cg.dirs.flatMap((d) => ['--cgroup-dir', d]),
        '--mount-proc',
        secureJoin(merged, '/proc'),
        ...(spec.namespaces.includes('cgroup') ? ['--cgroupns'] : []),
        ...(spec.init ? ['--init'] : []),
        ...(spec.process.terminal ? ['--tty'] : []),
        ...onExit.flatMap((a) => ['--then', a]),
        '--cwd',
        spec.process.cwd,
        ...userArgs(user),
        ...conf.args,
        '--',
        ...spec.process.args,
      ];
      const stdin = stdio.kind === 'attach' && stdio.stdin ? 0 : 'ignore';
      const std =
        slave !== null
          ? [slave, slave, slave]
          : stdio.kind === 'log'
            ? ['ignore', logFd!, logFd!]
            : [stdin, 1, 2];
      child = spawn(shim, args, {
        stdio: [...std, 'pipe', ...extra] as Array<number | 'ignore' | 'pipe'>,
        env: envObject(spec.process.env),
        detached: true,
      });
      if (child.pid === undefined) throw new StrataError(`could not start ${shim}`);
      trace('runtime: mounts done, shim spawned');
      // Wait (blocking: we must stay on this thread) until PID 1 has mounted /proc at merged/proc:
      // in a user namespace the kernel allows that only while the host's /proc is still visible.
      fs.closeSync(readyWrite);
      owned.splice(owned.indexOf(readyWrite), 1);
      if (fs.readSync(readyRead, Buffer.alloc(1)) !== 1) {
        child.kill('SIGKILL');
        throw new StrataError(
          'failed to start container: PID 1 could not mount /proc in its new PID namespace',
        );
      }

      // Both this thread and the shim move into the rootfs; the host's root is then detached.
      chdir(merged);
      pivotRoot('.', '.');
      umount2('.', MNT_DETACH);
      chdir('/');
    } finally {
      // Rootless: the namespaces we came from belong to the initial user namespace, which we may not
      // enter again; only the mount namespace (the pause process's own) matters for what follows.
      for (const kind of isRootless() ? ['mnt'] : ['mnt', 'uts', 'ipc', 'net'])
        setns(hostNs.get(kind)!, NS_FLAG[kind]!, `host ${kind}`);
      process.chdir(savedCwd);
    }
    closeAll(owned);
    closeAll(hostNs.values());
    let network;
    try {
      network = attachNetwork(netPlan);
    } catch (e) {
      child.kill('SIGKILL'); // still waiting for its go byte: nothing ran
      throw e;
    }

    trace('runtime: pivoted, back in host namespaces');
    const ctl = child.stdio[3] as Socket;
    const readLine = lineReader(ctl);
    const exited = new Promise<number>((resolve) =>
      child!.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? 15 : 0))),
    );
    ctl.write('g');
    let pid = 0;
    let failure: StrataError | null = null;
    for (;;) {
      const line = await readLine();
      if (line === null) break;
      if (line.startsWith('pid ')) pid = Number(line.slice(4));
      else if (line === 'ok') break;
      else if (line.startsWith('error ')) {
        const detail = line.slice(6);
        failure = /^(exec|cwd) /.test(detail)
          ? execFailure(detail, spec.process.args[0] ?? '', spec.process.cwd)
          : new StrataError(`failed to start container: ${detail}`);
        break;
      }
    }
    ctl.destroy();
    if (pid === 0 && failure === null) {
      const code = await exited;
      failure = new StrataError(
        `failed to start container: strata-shim exited with status ${code} before starting it`,
      );
    }
    if (failure) {
      if (master !== null) fs.closeSync(master);
      await exited;
      throw failure;
    }

    if (stdio.kind === 'log') {
      child.unref();
      if (master !== null) fs.closeSync(master);
      return { pid, monitorPid: child.pid!, ...(network ? { network } : {}) };
    }
    const stopRelay = master !== null ? relayTerminal(master, stdio.stdin) : () => undefined;
    const exit = exited.then(() => {
      trace('runtime: monitor exited');
      stopRelay();
      if (master !== null) closeQuietly(master);
      const text = readTextIfExists(path.join(stateDir, 'exit'));
      if (text === null) throw new StrataError('container monitor ended without recording an exit status');
      return parseExitFile(text);
    });
    return { pid, monitorPid: child.pid!, exit, ...(network ? { network } : {}) };
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
    const procsFds = joined.procsFds;
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
    const extra = [target.get('mnt')!, ...procsFds, ...(conf.fd !== null ? [conf.fd] : [])];
    const args = [
      'exec',
      '--mntns-fd',
      '3',
      ...procsFds.flatMap((_, i) => ['--cgroup-fd', String(4 + i)]),
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
      closeAll([...target.values(), ...host.values(), ...procsFds, ...(slave !== null ? [slave] : [])]);
      if (conf.fd !== null) closeAll([conf.fd]);
    }
    const stopRelay = master !== null ? relayTerminal(master, stdio.stdin) : () => undefined;
    const onSignal = (sig: NodeJS.Signals) => child.pid && process.kill(child.pid, sig);
    if (master === null) for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, onSignal);
    const code = await new Promise<number>((resolve) =>
      child.on('exit', (c, sig) => resolve(c ?? 128 + (sig ? (typeof sig === 'string' ? 15 : 0) : 0))),
    );
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.off(s, onSignal);
    stopRelay();
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
    try {
      umount2(spec.rootfs.mergedDir, MNT_DETACH);
    } catch (e) {
      if (!(e instanceof SyscallError) || !['EINVAL', 'ENOENT'].includes(e.code)) throw e;
    }
    removeCgroups(spec.cgroup.path);
    teardownNetwork(spec.id);
  }
}
