// Typed koffi bindings to the libc calls the native backend makes. Every wrapper throws a
// SyscallError naming the call, its arguments and errno; nothing else in the project touches koffi.
import { createRequire } from 'node:module';
import type koffiTypes from 'koffi';

import { constants } from 'node:os';
import fs from 'node:fs';
import path from 'node:path';

export const CLONE = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
  FS: 0x00000200,
} as const;

export { MS } from '../../shared/src/mount/options.js';

export const MNT_DETACH = 2;
const S_IFCHR = 0o020000;

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));

export class SyscallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    const name = errnoNames.get(errno) ?? `errno ${errno}`;
    super(`${call}: ${name} (${strerror(errno)})`);
    this.name = 'SyscallError';
  }
  get code(): string {
    return errnoNames.get(this.errno) ?? `E${this.errno}`;
  }
}

// koffi and libc are bound on the first call, not at import: loading them costs ~18 ms, and a
// `strata run --rm --net none` or `ps` makes no call here at all (the shim does the syscalls).
// require() rather than an ESM import: koffi is CommonJS, and its ESM load cost 23 ms against 12.
function bind(k: typeof koffiTypes) {
  const lib = k.load('libc.so.6');
  return {
    setns: lib.func('int setns(int fd, int nstype)'),
    unshare: lib.func('int unshare(int flags)'),
    mount: lib.func(
      'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
    ),
    umount2: lib.func('int umount2(const char *target, int flags)'),
    mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    lsetxattr: lib.func(
      'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
    ),
    lgetxattr: lib.func(
      'long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)',
    ),
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)'),
    close: lib.func('int close(int fd)'),
    send: lib.func('long send(int fd, const uint8_t *buf, size_t len, int flags)'),
    recv: lib.func('long recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)'),
    if_nametoindex: lib.func('unsigned int if_nametoindex(const char *name)'),
    strerror: lib.func('const char *strerror(int errnum)'),
    socketpair: lib.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)'),
    fcntl: lib.func('int fcntl(int fd, int cmd, ...)'),
    waitpid: lib.func('int waitpid(int pid, _Out_ int *status, int options)'),
    posix_spawn: lib.func(
      'int posix_spawn(_Out_ int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)',
    ),
    posix_spawn_file_actions_init: lib.func('int posix_spawn_file_actions_init(void *actions)'),
    posix_spawn_file_actions_destroy: lib.func('int posix_spawn_file_actions_destroy(void *actions)'),
    posix_spawn_file_actions_adddup2: lib.func(
      'int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)',
    ),
    posix_spawn_file_actions_addopen: lib.func(
      'int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int oflag, uint32_t mode)',
    ),
    posix_spawn_file_actions_addclose: lib.func(
      'int posix_spawn_file_actions_addclose(void *actions, int fd)',
    ),
    posix_spawnattr_init: lib.func('int posix_spawnattr_init(void *attr)'),
    posix_spawnattr_destroy: lib.func('int posix_spawnattr_destroy(void *attr)'),
    posix_spawnattr_setflags: lib.func('int posix_spawnattr_setflags(void *attr, short flags)'),
    posix_spawnattr_setsigmask: lib.func('int posix_spawnattr_setsigmask(void *attr, const void *set)'),
    posix_spawnattr_setsigdefault: lib.func('int posix_spawnattr_setsigdefault(void *attr, const void *set)'),
    sigemptyset: lib.func('int sigemptyset(void *set)'),
    sigfillset: lib.func('int sigfillset(void *set)'),
  };
}
let koffiModule: typeof koffiTypes | null = null;
let bound: ReturnType<typeof bind> | null = null;
function koffi(): typeof koffiTypes {
  return (koffiModule ??= loadKoffi());
}
/**
 * koffi's entry picks its binary by reading Node's ELF headers for the libc flavour: ~14 ms of CPU
 * per load against ~5 for requiring the binary itself. On glibc x64 Linux (this project's target)
 * load the binary its platform package ships; anywhere else, or if that fails (musl), koffi's way.
 */
function loadKoffi(): typeof koffiTypes {
  const require = createRequire(import.meta.url);
  if (process.platform === 'linux' && process.arch === 'x64') {
    try {
      return require('@koromix/koffi-linux-x64/linux_x64/koffi.node') as typeof koffiTypes;
    } catch {
      /* not glibc, or not installed: the generic loader below */
    }
  }
  return require('koffi') as typeof koffiTypes;
}
/** The libc functions, bound on first use. */
function libc(): ReturnType<typeof bind> {
  return (bound ??= bind(koffi()));
}

function strerror(errno: number): string {
  return String(libc().strerror(errno));
}

function check(ret: number | bigint, call: () => string): number {
  const n = Number(ret);
  if (n < 0) throw new SyscallError(call(), koffi().errno());
  return n;
}

export function setns(fd: number, nstype: number, what = `fd ${fd}`): void {
  check(libc().setns(fd, nstype), () => `setns(${what})`);
}

/** For the calling thread only: CLONE_NEWNET is per thread, so a multithreaded process may unshare it. */
export function unshare(flags: number, what: string): void {
  check(libc().unshare(flags), () => `unshare(${what})`);
}

export function mount(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null,
): void {
  check(
    libc().mount(source, target, fstype, flags, data),
    () =>
      `mount(${source ?? 'none'} on ${target}, type ${fstype ?? '-'}, flags 0x${flags.toString(16)}${data ? `, ${data}` : ''})`,
  );
}

export function umount2(target: string, flags: number): void {
  check(libc().umount2(target, flags), () => `umount2(${target})`);
}

/**
 * umount2(MNT_DETACH) of `target` only when something is mounted there (its st_dev differs from
 * its parent's, as for the overlay on a merged dir or an nsfs bind): two stats instead of binding
 * libc on paths where the mount is usually gone already (the run monitor unmounts merged itself).
 */
export function detachIfMounted(target: string): void {
  try {
    if (fs.statSync(target).dev === fs.statSync(path.dirname(target)).dev) return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    // ENOTCONN, ESTALE...: something is mounted there and broken; detach it below.
  }
  try {
    umount2(target, MNT_DETACH);
  } catch (e) {
    if (!(e instanceof SyscallError) || !['EINVAL', 'ENOENT'].includes(e.code)) throw e;
  }
}

const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** mknod for character and block devices and FIFOs. */
export function mknodTyped(
  path: string,
  type: 'char' | 'block' | 'fifo',
  mode: number,
  major = 0,
  minor = 0,
): void {
  const kind = type === 'char' ? S_IFCHR : type === 'block' ? S_IFBLK : S_IFIFO;
  check(
    libc().mknod(path, kind | mode, makedev(major, minor)),
    () => `mknod(${path}, ${type} ${major}:${minor})`,
  );
}

function makedev(major: number, minor: number): bigint {
  // glibc's encoding.
  return (
    (BigInt(major & 0xfff) << 8n) |
    (BigInt(major & ~0xfff) << 32n) |
    BigInt(minor & 0xff) |
    (BigInt(minor & ~0xff) << 12n)
  );
}

export function lsetxattr(path: string, name: string, value: string | Uint8Array): void {
  const buf = Buffer.from(value);
  check(libc().lsetxattr(path, name, buf, buf.length, 0), () => `lsetxattr(${path}, ${name})`);
}

/** The attribute's value, or null when the file has none (ENODATA). */
export function lgetxattr(path: string, name: string): string | null {
  const buf = Buffer.alloc(256);
  const n = Number(libc().lgetxattr(path, name, buf, buf.length));
  if (n < 0) {
    const e = koffi().errno();
    if (e === constants.errno.ENODATA) return null;
    throw new SyscallError(`lgetxattr(${path}, ${name})`, e);
  }
  return buf.subarray(0, n).toString();
}

const TIOCGPTN = 0x80045430;
const TIOCSPTLCK = 0x40045431;

/** Unlock a pty master opened from a devpts instance's ptmx; returns the slave's number. */
export function unlockPty(master: number): number {
  const arg = Buffer.alloc(4);
  check(libc().ioctl(master, TIOCSPTLCK, arg), () => 'ioctl(TIOCSPTLCK)');
  check(libc().ioctl(master, TIOCGPTN, arg), () => 'ioctl(TIOCGPTN)');
  return arg.readUInt32LE(0);
}

const TIOCSWINSZ = 0x5414;
export function setWindowSize(fd: number, rows: number, cols: number): void {
  const ws = Buffer.alloc(8);
  ws.writeUInt16LE(rows, 0);
  ws.writeUInt16LE(cols, 2);
  check(libc().ioctl(fd, TIOCSWINSZ, ws), () => 'ioctl(TIOCSWINSZ)');
}

/** A socket in the calling thread's network namespace (netlink.ts: AF_NETLINK, NETLINK_ROUTE). */
export function socketFd(domain: number, type: number, protocol: number): number {
  return check(libc().socket(domain, type | 0o2000000 /* CLOEXEC */, protocol), () => `socket(${domain})`);
}

export function closeFd(fd: number): void {
  libc().close(fd);
}

export function sendBuf(fd: number, buf: Uint8Array, what: string): void {
  check(libc().send(fd, buf, buf.length, 0), () => `send(${what})`);
}

/**
 * send() on a thread of libuv's pool (koffi's async call): for a netlink request, which the kernel
 * carries out inside the call (deleting a veth waits there ~18 ms for an RCU barrier), so this
 * thread goes on meanwhile. A pool thread's errno is not ours to read: a failure is named only.
 */
export function sendBufAsync(fd: number, buf: Uint8Array, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    libc().send.async(fd, buf, buf.length, 0, (err: unknown, n: number | bigint) => {
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else if (Number(n) < 0) reject(new Error(`send(${what}) failed`));
      else resolve();
    });
  });
}

/** One datagram into `buf`; returns its length. */
export function recvBuf(fd: number, buf: Uint8Array, what: string): number {
  return check(libc().recv(fd, buf, buf.length, 0), () => `recv(${what})`);
}

/** The interface's index in the calling thread's network namespace. */
export function ifIndex(name: string): number {
  const i = Number(libc().if_nametoindex(name));
  if (i === 0) throw new SyscallError(`if_nametoindex(${name})`, koffi().errno());
  return i;
}

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;

const F_GETFL = 3;

/** An open file description's access mode and status flags (fcntl F_GETFL). */
export function fileStatusFlags(fd: number): number {
  return check(libc().fcntl(fd, F_GETFL), () => `fcntl(${fd}, F_GETFL)`);
}

/** A connected pair of unix stream sockets, both close-on-exec. */
export function socketPair(): [number, number] {
  const sv = [0, 0];
  check(libc().socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), () => 'socketpair');
  return [sv[0]!, sv[1]!];
}

const WNOHANG = 1;

/** waitpid(pid, WNOHANG): null while it runs, else its wait status (the raw int). */
export function reapIfExited(pid: number): number | null {
  const status = [0];
  const r = check(libc().waitpid(pid, status, WNOHANG), () => `waitpid(${pid})`);
  return r === pid ? status[0]! : null;
}

/** The posix_spawn family returns the error number itself (the exec's failure included), not -1. */
function spawnCheck(ret: number, call: string): void {
  if (Number(ret) !== 0) throw new SyscallError(call, Number(ret));
}

// glibc's flags (spawn.h) and generous sizes for its opaque types (80 and 336 bytes on x86_64).
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const O_RDWR = 2;

/**
 * posix_spawn(3): glibc's clone(CLONE_VM|CLONE_VFORK), so the cost does not grow with this
 * process's size, unlike libuv's fork (1.9 ms from the ~60 MB daemon against 0.1). `fds[i]`
 * becomes the child's fd i (null: /dev/null); every other fd of ours is close-on-exec (Node's
 * and libuv's are). The child gets default signal dispositions and an empty mask (Node ignores
 * SIGPIPE, which an exec would keep) and, with `setsid`, a session of its own.
 */
export function posixSpawn(
  file: string,
  argv: readonly string[],
  env: readonly string[],
  fds: ReadonlyArray<number | null>,
  setsid: boolean,
): number {
  const c = libc();
  const actions = Buffer.alloc(1024);
  const attr = Buffer.alloc(1024);
  const sigs = Buffer.alloc(128);
  spawnCheck(c.posix_spawn_file_actions_init(actions), 'posix_spawn_file_actions_init');
  try {
    spawnCheck(c.posix_spawnattr_init(attr), 'posix_spawnattr_init');
    try {
      // Two passes so that no dup2 overwrites a source still to come: every source first to a
      // number above all of them, then down to its place.
      const high = Math.max(2, ...fds.map((fd) => fd ?? 0)) + 1;
      fds.forEach((fd, i) => {
        if (fd !== null) c.posix_spawn_file_actions_adddup2(actions, fd, high + i);
      });
      fds.forEach((fd, i) => {
        if (fd === null) c.posix_spawn_file_actions_addopen(actions, i, '/dev/null', O_RDWR, 0);
        else {
          c.posix_spawn_file_actions_adddup2(actions, high + i, i);
          c.posix_spawn_file_actions_addclose(actions, high + i);
        }
      });
      c.posix_spawnattr_setflags(
        attr,
        POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (setsid ? POSIX_SPAWN_SETSID : 0),
      );
      c.sigfillset(sigs);
      c.posix_spawnattr_setsigdefault(attr, sigs);
      c.sigemptyset(sigs);
      c.posix_spawnattr_setsigmask(attr, sigs);
      const pid = [0];
      spawnCheck(
        c.posix_spawn(pid, file, actions, attr, [...argv, null], [...env, null]),
        `posix_spawn(${file})`,
      );
      return pid[0]!;
    } finally {
      c.posix_spawnattr_destroy(attr);
    }
  } finally {
    c.posix_spawn_file_actions_destroy(actions);
  }
}
