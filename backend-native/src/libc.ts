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

const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;

/** Bring a network interface up in the calling thread's network namespace. */
export function interfaceUp(name: string): void {
  const fd = check(
    libc().socket(2 /* AF_INET */, 2 /* SOCK_DGRAM */ | 0o2000000 /* CLOEXEC */, 0),
    () => 'socket',
  );
  try {
    const ifr = Buffer.alloc(40);
    ifr.write(name, 0, 15);
    check(libc().ioctl(fd, SIOCGIFFLAGS, ifr), () => `ioctl(SIOCGIFFLAGS, ${name})`);
    ifr.writeInt16LE(ifr.readInt16LE(16) | IFF_UP, 16);
    check(libc().ioctl(fd, SIOCSIFFLAGS, ifr), () => `ioctl(SIOCSIFFLAGS, ${name})`);
  } finally {
    libc().close(fd);
  }
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
