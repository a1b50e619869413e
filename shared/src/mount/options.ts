// mount(2) flags and the translation of OCI / mount(8) option strings ("ro", "nosuid", "rbind",
// "mode=755", "rslave") into flags and filesystem data, as runc's parseMountOptions does. Pure
// TypeScript: the kernel model and the native backend share it.

export type MountFlag =
  | 'MS_RDONLY'
  | 'MS_NOSUID'
  | 'MS_NODEV'
  | 'MS_NOEXEC'
  | 'MS_SYNCHRONOUS'
  | 'MS_REMOUNT'
  | 'MS_DIRSYNC'
  | 'MS_NOATIME'
  | 'MS_NODIRATIME'
  | 'MS_BIND'
  | 'MS_MOVE'
  | 'MS_REC'
  | 'MS_UNBINDABLE'
  | 'MS_PRIVATE'
  | 'MS_SLAVE'
  | 'MS_SHARED'
  | 'MS_RELATIME'
  | 'MS_STRICTATIME'
  | 'MS_LAZYTIME';

/** The flags' values from <linux/mount.h>, for mount(2) through FFI. */
export const MS_FLAG_VALUES: Readonly<Record<MountFlag, number>> = {
  MS_RDONLY: 1,
  MS_NOSUID: 2,
  MS_NODEV: 4,
  MS_NOEXEC: 8,
  MS_SYNCHRONOUS: 16,
  MS_REMOUNT: 32,
  MS_DIRSYNC: 128,
  MS_NOATIME: 1024,
  MS_NODIRATIME: 2048,
  MS_BIND: 4096,
  MS_MOVE: 8192,
  MS_REC: 16384,
  MS_UNBINDABLE: 1 << 17,
  MS_PRIVATE: 1 << 18,
  MS_SLAVE: 1 << 19,
  MS_SHARED: 1 << 20,
  MS_RELATIME: 1 << 21,
  MS_STRICTATIME: 1 << 24,
  MS_LAZYTIME: 1 << 25,
};

/** Short names (`MS.BIND`) for code that builds mount(2) calls and plans. */
type ShortName<F> = F extends `MS_${infer S}` ? S : never;
export const MS = Object.fromEntries(
  Object.entries(MS_FLAG_VALUES).map(([k, v]) => [k.slice(3), v]),
) as Readonly<Record<ShortName<MountFlag>, number>>;

/** The numeric mountflags argument for a set of flags. */
export function mountFlagsValue(flags: Iterable<MountFlag>): number {
  let v = 0;
  for (const f of flags) v |= MS_FLAG_VALUES[f];
  return v >>> 0;
}

/** Options that set (true) or clear (false) a flag. */
const FLAG_OPTIONS: Readonly<Record<string, readonly [MountFlag, boolean]>> = {
  ro: ['MS_RDONLY', true],
  rw: ['MS_RDONLY', false],
  nosuid: ['MS_NOSUID', true],
  suid: ['MS_NOSUID', false],
  nodev: ['MS_NODEV', true],
  dev: ['MS_NODEV', false],
  noexec: ['MS_NOEXEC', true],
  exec: ['MS_NOEXEC', false],
  sync: ['MS_SYNCHRONOUS', true],
  async: ['MS_SYNCHRONOUS', false],
  dirsync: ['MS_DIRSYNC', true],
  remount: ['MS_REMOUNT', true],
  noatime: ['MS_NOATIME', true],
  atime: ['MS_NOATIME', false],
  nodiratime: ['MS_NODIRATIME', true],
  diratime: ['MS_NODIRATIME', false],
  relatime: ['MS_RELATIME', true],
  norelatime: ['MS_RELATIME', false],
  strictatime: ['MS_STRICTATIME', true],
  nostrictatime: ['MS_STRICTATIME', false],
  lazytime: ['MS_LAZYTIME', true],
  nolazytime: ['MS_LAZYTIME', false],
  bind: ['MS_BIND', true],
};

const PROPAGATION_OPTIONS: Readonly<Record<string, readonly MountFlag[]>> = {
  private: ['MS_PRIVATE'],
  rprivate: ['MS_PRIVATE', 'MS_REC'],
  shared: ['MS_SHARED'],
  rshared: ['MS_SHARED', 'MS_REC'],
  slave: ['MS_SLAVE'],
  rslave: ['MS_SLAVE', 'MS_REC'],
  unbindable: ['MS_UNBINDABLE'],
  runbindable: ['MS_UNBINDABLE', 'MS_REC'],
};

export interface ParsedMountOptions {
  /** Flags for the mount(2) call that creates the mount. */
  flags: MountFlag[];
  /** Filesystem data: every option that is not a flag, comma-joined in the given order. */
  data: string;
  /** Propagation changes to apply afterwards, one mount(2) call each (runc's pgflags). */
  propagation: MountFlag[][];
}

/** Split OCI mount options into mount(2) flags, fs data and propagation changes ("rbind" = bind+rec). */
export function parseMountOptions(options: readonly string[]): ParsedMountOptions {
  const flags = new Set<MountFlag>();
  const data: string[] = [];
  const propagation: MountFlag[][] = [];
  for (const o of options) {
    if (o === 'rbind') {
      flags.add('MS_BIND');
      flags.add('MS_REC');
      continue;
    }
    const f = FLAG_OPTIONS[o];
    if (f) {
      if (f[1]) flags.add(f[0]);
      else flags.delete(f[0]);
      continue;
    }
    const p = PROPAGATION_OPTIONS[o];
    if (p) {
      propagation.push([...p]);
      continue;
    }
    if (o !== '' && o !== 'defaults') data.push(o);
  }
  const order = Object.keys(MS_FLAG_VALUES) as MountFlag[];
  return { flags: order.filter((f) => flags.has(f)), data: data.join(','), propagation };
}
