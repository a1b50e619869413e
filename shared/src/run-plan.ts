// The container's filesystem plan as stage flags (backend-native/stage/setup.h): mounts, devices
// and /dev symlinks as numbers and paths. Both stages that carry it out take the same flags: the
// native shim on the host and the emulator guest's `strata-confine run` (images/guest). Pure: no
// syscall, no file access (the host's own devices for --privileged are backend-native's).
import type { ContainerSpec, MountSpec } from './spec.js';
import { DEV_SYMLINKS } from './spec.js';
import { MS } from './mount/options.js';

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

/** `--device c|b MODE(octal) MAJOR MINOR UID GID PATH` (-1: the owner as created). */
export function deviceArg(
  kind: 'c' | 'b',
  mode: number,
  rdev: [number, number],
  owner: [number, number],
  at: string,
): string[] {
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

/** The spec's own devices. */
export function specDeviceArgs(spec: ContainerSpec): string[] {
  return spec.devices.flatMap((d) => deviceArg('c', d.mode, [d.major, d.minor], [-1, -1], d.path));
}

/** runc's /dev symlinks (`--symlink TARGET PATH`), made after the devices. */
export function devSymlinkArgs(): string[] {
  return DEV_SYMLINKS.flatMap(([link, target]) => ['--symlink', target, link]);
}
