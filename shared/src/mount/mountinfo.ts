// Parser and renderer for /proc/PID/mountinfo and /proc/PID/mounts lines, in the kernel's exact format
// (fs/proc_namespace.c, Documentation/filesystems/proc.rst "3.5 /proc/<pid>/mountinfo"). Pure TypeScript:
// no Node APIs, so the web app and the kernel model can use it too.
//
// mountinfo line:
//   36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2)(3)   (4)   (5)         (6)        (7)      (8) (9)   (10)      (11)
// (1) mount ID (2) parent ID (3) major:minor of st_dev (4) root of the mount within its filesystem
// (5) mount point relative to the reader's root (6) per-mount options (7) zero or more optional fields
// (8) separator "-" (9) filesystem type (10) source (11) per-superblock options.
//
// The kernel escapes space, tab, newline and backslash as \ooo octal in paths and the fs type; in the
// source it also escapes '#'. Parsing decodes any \ooo escape; rendering re-encodes exactly those sets.

/** One line of /proc/PID/mountinfo, decoded. */
export interface MountInfo {
  mountId: number;
  parentId: number;
  major: number;
  minor: number;
  /** Path of the mount's root inside its filesystem ("/" unless a bind mount of a subdirectory). */
  root: string;
  /** Mount point, relative to the reading process's root. */
  mountPoint: string;
  /** Per-mount options, "rw" or "ro" first: ["rw", "nosuid", "relatime"]. */
  mountOptions: string[];
  /** shared:N (peer group ID), or null. */
  shared: number | null;
  /** master:N (peer group this mount is a slave of), or null. */
  master: number | null;
  /** propagate_from:N (nearest dominating peer group visible from the reader's root), or null. */
  propagateFrom: number | null;
  unbindable: boolean;
  /** Optional fields this parser does not know, kept verbatim and rendered after the known ones. */
  otherFields: string[];
  /** Filesystem type, "type.subtype" for FUSE-style subtypes. */
  fsType: string;
  /** Mount source (device name), "none" when the mount had none. */
  source: string;
  /** Per-superblock options, "rw" or "ro" first, each kept as the kernel printed it. */
  superOptions: string[];
}

/** One line of /proc/PID/mounts (the fstab-like format). */
export interface MountsEntry {
  source: string;
  mountPoint: string;
  fsType: string;
  /** "rw"/"ro" first, then superblock flags, per-mount flags, then filesystem options. */
  options: string[];
  dump: number;
  pass: number;
}

export class MountinfoParseError extends Error {
  readonly lineNumber: number;
  readonly line: string;
  constructor(lineNumber: number, line: string, reason: string) {
    super(`mountinfo line ${lineNumber}: ${reason}: ${JSON.stringify(line)}`);
    this.name = 'MountinfoParseError';
    this.lineNumber = lineNumber;
    this.line = line;
  }
}

/** Characters the kernel escapes in paths and fs types (seq_path/seq_dentry/show_type). */
const PATH_ESCAPES = ' \t\n\\';
/** Characters the kernel escapes in the source (mangle() in fs/proc_namespace.c). */
const SOURCE_ESCAPES = ' \t\n\\#';

/** Decode \ooo octal escapes (any three octal digits); other backslashes are kept as they are. */
export function unescapeField(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Encode the given characters as \ooo octal escapes, as the kernel's seq_escape does. */
export function escapeField(s: string, chars: string = PATH_ESCAPES): string {
  let out = '';
  for (const ch of s) {
    out += chars.includes(ch) ? '\\' + ch.charCodeAt(0).toString(8).padStart(3, '0') : ch;
  }
  return out;
}

function parseUint(s: string | undefined): number | null {
  if (s === undefined || !/^[0-9]+$/.test(s)) return null;
  return Number(s);
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Parse one mountinfo line; `lineNumber` (1-based) is only used for error messages. */
export function parseMountinfoLine(line: string, lineNumber = 1): MountInfo {
  const fail = (reason: string): never => {
    throw new MountinfoParseError(lineNumber, line, reason);
  };
  // Fields are separated by exactly one space; an empty source shows up as an empty field.
  const f = line.split(' ');
  const sep = f.indexOf('-', 6);
  if (f.length < 10) fail(`expected at least 10 fields, got ${f.length}`);
  if (sep < 0) fail('missing "-" separator');
  if (f.length - sep - 1 !== 3) fail(`expected 3 fields after "-", got ${f.length - sep - 1}`);
  const mountId = parseUint(f[0]);
  const parentId = parseUint(f[1]);
  if (mountId === null) fail(`bad mount ID ${JSON.stringify(f[0])}`);
  if (parentId === null) fail(`bad parent ID ${JSON.stringify(f[1])}`);
  const dev = /^([0-9]+):([0-9]+)$/.exec(f[2] ?? '');
  if (!dev) fail(`bad major:minor ${JSON.stringify(f[2])}`);
  const root = f[3] ?? '';
  const mountPoint = f[4] ?? '';
  if (root === '') fail('empty root');
  if (mountPoint === '') fail('empty mount point');
  const mountOptions = (f[5] ?? '').split(',');
  if (mountOptions[0] !== 'rw' && mountOptions[0] !== 'ro') fail('mount options do not start with rw/ro');
  const info: MountInfo = {
    mountId: mountId as number,
    parentId: parentId as number,
    major: Number((dev as RegExpExecArray)[1]),
    minor: Number((dev as RegExpExecArray)[2]),
    root: unescapeField(root),
    mountPoint: unescapeField(mountPoint),
    mountOptions,
    shared: null,
    master: null,
    propagateFrom: null,
    unbindable: false,
    otherFields: [],
    fsType: unescapeField(f[sep + 1] ?? ''),
    source: unescapeField(f[sep + 2] ?? ''),
    superOptions: (f[sep + 3] ?? '').split(','),
  };
  if (info.fsType === '') fail('empty filesystem type');
  for (const field of f.slice(6, sep)) {
    const m = /^(shared|master|propagate_from):([0-9]+)$/.exec(field);
    if (m) {
      const n = Number(m[2]);
      if (m[1] === 'shared') info.shared = n;
      else if (m[1] === 'master') info.master = n;
      else info.propagateFrom = n;
    } else if (field === 'unbindable') {
      info.unbindable = true;
    } else if (field === '') {
      fail('empty optional field');
    } else {
      info.otherFields.push(field);
    }
  }
  return info;
}

/** Parse a whole mountinfo file. Throws MountinfoParseError naming the (1-based) line number. */
export function parseMountinfo(text: string): MountInfo[] {
  return splitLines(text).map((line, i) => parseMountinfoLine(line, i + 1));
}

/** Render one entry as the kernel prints it (without the trailing newline). */
export function renderMountinfoLine(e: MountInfo): string {
  const parts = [
    String(e.mountId),
    String(e.parentId),
    `${e.major}:${e.minor}`,
    escapeField(e.root),
    escapeField(e.mountPoint),
    e.mountOptions.join(','),
  ];
  if (e.shared !== null) parts.push(`shared:${e.shared}`);
  if (e.master !== null) parts.push(`master:${e.master}`);
  if (e.propagateFrom !== null) parts.push(`propagate_from:${e.propagateFrom}`);
  if (e.unbindable) parts.push('unbindable');
  parts.push(...e.otherFields);
  parts.push('-', escapeField(e.fsType), escapeField(e.source, SOURCE_ESCAPES), e.superOptions.join(','));
  return parts.join(' ');
}

/** Render entries as a mountinfo file: one line each, each ending in "\n". */
export function renderMountinfo(entries: readonly MountInfo[]): string {
  return entries.map((e) => renderMountinfoLine(e) + '\n').join('');
}

/** Parse one /proc/PID/mounts line. */
export function parseMountsLine(line: string, lineNumber = 1): MountsEntry {
  const f = line.split(' ');
  if (f.length !== 6) throw new MountinfoParseError(lineNumber, line, `expected 6 fields, got ${f.length}`);
  const dump = parseUint(f[4]);
  const pass = parseUint(f[5]);
  if (dump === null || pass === null) throw new MountinfoParseError(lineNumber, line, 'bad dump/pass fields');
  return {
    source: unescapeField(f[0] ?? ''),
    mountPoint: unescapeField(f[1] ?? ''),
    fsType: unescapeField(f[2] ?? ''),
    options: (f[3] ?? '').split(','),
    dump,
    pass,
  };
}

export function parseMounts(text: string): MountsEntry[] {
  return splitLines(text).map((line, i) => parseMountsLine(line, i + 1));
}

export function renderMounts(entries: readonly MountsEntry[]): string {
  return entries
    .map(
      (e) =>
        [
          escapeField(e.source, SOURCE_ESCAPES),
          escapeField(e.mountPoint),
          escapeField(e.fsType),
          e.options.join(','),
          String(e.dump),
          String(e.pass),
        ].join(' ') + '\n',
    )
    .join('');
}

/** Superblock flags the kernel prints (show_sb_opts) before the per-mount flags in /proc/mounts. */
const SB_FLAG_OPTIONS = new Set(['sync', 'dirsync', 'mand', 'lazytime']);

/**
 * The /proc/mounts line the kernel prints for the same mount: "ro" if either the mount or the superblock
 * is read-only, then superblock flags, per-mount flags, and the filesystem's own options.
 */
export function mountinfoToMounts(e: MountInfo): MountsEntry {
  const ro = e.mountOptions[0] === 'ro' || e.superOptions[0] === 'ro';
  const sbRest = e.superOptions.slice(1);
  const options = [
    ro ? 'ro' : 'rw',
    ...sbRest.filter((o) => SB_FLAG_OPTIONS.has(o)),
    ...e.mountOptions.slice(1),
    ...sbRest.filter((o) => !SB_FLAG_OPTIONS.has(o)),
  ];
  return { source: e.source, mountPoint: e.mountPoint, fsType: e.fsType, options, dump: 0, pass: 0 };
}

export interface NormaliseOptions {
  /**
   * Path prefixes to replace, e.g. [['/tmp/strata-abc', '/T']]. Applied (longest first, on whole path
   * components) to roots, mount points, sources and inside super options (overlay's lowerdir=...).
   */
  replacePrefixes?: ReadonlyArray<readonly [string, string]>;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Map machine-specific numbers to small stable ones so tables from different machines (or from the model
 * and the kernel) compare equal: mount IDs (in order of appearance, then parent IDs not in the table),
 * peer group IDs (shared/master/propagate_from, in order of appearance) and devices (major 0, minor
 * 1, 2, ... in order of appearance; bind mounts of one filesystem keep sharing a device). Replaces path
 * prefixes as given. Returns new objects; the input is not changed.
 */
export function normaliseMountinfo(entries: readonly MountInfo[], opts: NormaliseOptions = {}): MountInfo[] {
  const ids = new Map<number, number>();
  for (const e of entries) if (!ids.has(e.mountId)) ids.set(e.mountId, ids.size + 1);
  for (const e of entries) if (!ids.has(e.parentId)) ids.set(e.parentId, ids.size + 1);
  const groups = new Map<number, number>();
  const group = (n: number | null): number | null => {
    if (n === null) return null;
    let g = groups.get(n);
    if (g === undefined) groups.set(n, (g = groups.size + 1));
    return g;
  };
  const devs = new Map<string, number>();
  const prefixes = [...(opts.replacePrefixes ?? [])].sort((a, b) => b[0].length - a[0].length);
  const replacePath = (p: string): string => {
    for (const [from, to] of prefixes) {
      if (p === from) return to;
      if (p.startsWith(from.endsWith('/') ? from : from + '/')) return to + p.slice(from.length);
    }
    return p;
  };
  const replaceInOption = (o: string): string => {
    let out = o;
    for (const [from, to] of prefixes) {
      out = out.replace(new RegExp(escapeRegExp(from) + '(?=$|[/,:])', 'g'), to);
    }
    return out;
  };
  return entries.map((e) => {
    const key = `${e.major}:${e.minor}`;
    let dev = devs.get(key);
    if (dev === undefined) devs.set(key, (dev = devs.size + 1));
    return {
      ...e,
      mountId: ids.get(e.mountId) as number,
      parentId: ids.get(e.parentId) as number,
      major: 0,
      minor: dev,
      root: replacePath(e.root),
      mountPoint: replacePath(e.mountPoint),
      mountOptions: [...e.mountOptions],
      shared: group(e.shared),
      master: group(e.master),
      propagateFrom: group(e.propagateFrom),
      otherFields: [...e.otherFields],
      source: replacePath(e.source),
      superOptions: e.superOptions.map(replaceInOption),
    };
  });
}
