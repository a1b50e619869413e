// The shim's setup flags for a container spec: mounts, devices and /dev symlinks as numbers and
// paths, which stage/setup.c carries out inside the container's namespaces. Computed without
// touching the rootfs (it is not mounted yet) and without a syscall binding.
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerSpec, MountSpec } from '../../shared/src/spec.js';
import { DEV_SYMLINKS } from '../../shared/src/spec.js';
import { MS } from './libc.js';

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

/** `--mount TYPE FLAGS PROPAGATION SOURCE DEST DATA` per mount, in the spec's order. */
export function mountArgs(mounts: MountSpec[]): string[] {
  return mounts.flatMap((m) => {
    const { flags, propagation, data } = parseOptions(m.options);
    const type = m.type === 'bind' || (flags & MS.BIND) !== 0 ? 'bind' : m.type;
    return ['--mount', type, String(flags), String(propagation), m.source, m.destination, data.join(',')];
  });
}

function deviceArg(
  kind: 'c' | 'b',
  mode: number,
  rdev: [number, number],
  owner: [number, number],
  at: string,
) {
  return [
    '--device',
    kind,
    mode.toString(8),
    String(rdev[0]),
    String(rdev[1]),
    String(owner[0]),
    String(owner[1]),
    at,
  ];
}

// What runc leaves out of a privileged container's /dev: mounts of their own, and per-namespace
// entries.
const SKIP = new Set(['pts', 'shm', 'mqueue', 'fd', 'console', 'ptmx', '.lxc', '.lxd-mounts', '.udev']);

/** --privileged: every character and block device of the host's /dev, with its mode and owner. */
function hostDeviceArgs(dir = '/dev'): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const host = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...hostDeviceArgs(host));
    if (!e.isCharacterDevice() && !e.isBlockDevice()) continue;
    const st = fs.statSync(host);
    const major = Math.floor(st.rdev / 256) & 0xfff;
    const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
    const kind = e.isCharacterDevice() ? 'c' : 'b';
    out.push(...deviceArg(kind, st.mode & 0o7777, [major, minor], [st.uid, st.gid], host));
  }
  return out;
}

/** The spec's devices, the host's for --privileged (existing ones kept), then runc's /dev links. */
export function deviceArgs(spec: ContainerSpec): string[] {
  return [
    ...spec.devices.flatMap((d) => deviceArg('c', d.mode, [d.major, d.minor], [-1, -1], d.path)),
    ...(spec.security?.privileged ? hostDeviceArgs() : []),
    ...DEV_SYMLINKS.flatMap(([link, target]) => ['--symlink', target, link]),
  ];
}
