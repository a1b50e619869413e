// The filesystem interface the model's VFS drives, and an in-memory filesystem (tmpfs/ext4 stand-in).
// Paths given to a FileSystem are absolute paths inside that filesystem; the VFS (kernel.ts) has already
// crossed mount points and followed symlinks, so filesystems never follow symlinks themselves.

import { fail } from './errors.js';
import { basename, childPath, components, dirname, isClean, isUnder } from './path.js';

export type FileKind = 'dir' | 'file' | 'symlink' | 'chardev';

export interface Stat {
  kind: FileKind;
  /** Permission bits (07777), without the file type. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  ino: number;
  /** Device numbers of a character device (whiteouts are 0/0); 0/0 for other kinds. */
  rdevMajor: number;
  rdevMinor: number;
}

export interface CreateOptions {
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface FileSystem {
  /** Filesystem type as shown in mountinfo ("tmpfs", "overlay", "proc", "ext4"). */
  readonly fsType: string;
  lstat(path: string): Stat;
  /** lstat, or null for ENOENT/ENOTDIR (lookups probe mostly absent names; exceptions cost). */
  lstatOrNull(path: string): Stat | null;
  /** A number that changes whenever the filesystem does; absent when it cannot tell (nothing cached). */
  generation?(): number;
  /** Entry names, sorted. */
  readdir(path: string): string[];
  readFile(path: string): string;
  readlink(path: string): string;
  mkdir(path: string, opts?: CreateOptions): void;
  /** Create or replace the content of a regular file. */
  writeFile(path: string, content: string, opts?: CreateOptions & { append?: boolean }): void;
  mknod(path: string, major: number, minor: number, opts?: CreateOptions): void;
  symlink(target: string, path: string, opts?: CreateOptions): void;
  unlink(path: string): void;
  rmdir(path: string): void;
  rename(from: string, to: string): void;
  chmod(path: string, mode: number): void;
  chown(path: string, uid: number, gid: number): void;
  getxattr(path: string, name: string): string | null;
  setxattr(path: string, name: string, value: string): void;
  removexattr(path: string, name: string): void;
  listxattr(path: string): string[];
}

/** A whiteout: a character device 0/0 (overlayfs's marker for a deleted name). */
export function isWhiteout(st: Stat): boolean {
  return st.kind === 'chardev' && st.rdevMajor === 0 && st.rdevMinor === 0;
}

/** lstat that returns null for ENOENT/ENOTDIR instead of throwing. */
export function tryLstat(fs: FileSystem, path: string): Stat | null {
  return fs.lstatOrNull(path);
}

interface MemNode {
  ino: number;
  kind: FileKind;
  mode: number;
  uid: number;
  gid: number;
  content: string;
  target: string;
  rdevMajor: number;
  rdevMinor: number;
  children: Map<string, MemNode>;
  xattrs: Map<string, string>;
}

function statOf(n: MemNode): Stat {
  const size = n.kind === 'file' ? n.content.length : n.kind === 'symlink' ? n.target.length : 0;
  return {
    kind: n.kind,
    mode: n.mode,
    uid: n.uid,
    gid: n.gid,
    size,
    ino: n.ino,
    rdevMajor: n.rdevMajor,
    rdevMinor: n.rdevMinor,
  };
}

const DEFAULT_MODE: Record<FileKind, number> = { dir: 0o755, file: 0o644, symlink: 0o777, chardev: 0o644 };

/** An in-memory filesystem: directories, regular files, symlinks, character devices, xattrs. */
export class MemFs implements FileSystem {
  readonly fsType: string;
  private nextIno = 2;
  /** Bumped by every change, so that views over this filesystem (overlay lookups) can cache. */
  private gen = 0;
  private readonly root: MemNode;

  constructor(fsType = 'tmpfs', rootMode = 0o1777) {
    this.fsType = fsType;
    this.root = this.node('dir', { mode: rootMode });
  }

  private node(kind: FileKind, opts: CreateOptions = {}): MemNode {
    return {
      ino: this.nextIno++,
      kind,
      mode: (opts.mode ?? DEFAULT_MODE[kind]) & 0o7777,
      uid: opts.uid ?? 0,
      gid: opts.gid ?? 0,
      content: '',
      target: '',
      rdevMajor: 0,
      rdevMinor: 0,
      children: new Map(),
      xattrs: new Map(),
    };
  }

  /** The node at `path`, or the errno of the walk (lookups mostly probe absent names: no throwing). */
  private walk(path: string): MemNode | 'ENOENT' | 'ENOTDIR' {
    let n = this.root;
    const len = path.length;
    let start = 0;
    while (start < len) {
      let end = path.indexOf('/', start);
      if (end < 0) end = len;
      if (end > start && !(end === start + 1 && path.charCodeAt(start) === 46)) {
        if (n.kind !== 'dir') return 'ENOTDIR';
        const next = n.children.get(path.slice(start, end));
        if (!next) return 'ENOENT';
        n = next;
      }
      start = end + 1;
    }
    return n;
  }

  private find(path: string): MemNode {
    const n = this.walk(path);
    if (n === 'ENOENT') fail('ENOENT', `${path}: no such file or directory`);
    if (n === 'ENOTDIR') fail('ENOTDIR', `${path}: not a directory`);
    return n;
  }

  private parentOf(path: string): [MemNode, string] {
    if (isClean(path) ? path === '/' : components(path).length === 0)
      fail('EBUSY', 'cannot replace the root directory');
    const dir = this.find(dirname(path));
    if (dir.kind !== 'dir') fail('ENOTDIR', `${dirname(path)}: not a directory`);
    return [dir, basename(path)];
  }

  private add(path: string, n: MemNode): void {
    const [dir, name] = this.parentOf(path);
    if (dir.children.has(name)) fail('EEXIST', `${path}: file exists`);
    dir.children.set(name, n);
  }

  generation(): number {
    return this.gen;
  }

  lstatOrNull(path: string): Stat | null {
    const n = this.walk(path);
    return typeof n === 'string' ? null : statOf(n);
  }

  lstat(path: string): Stat {
    return statOf(this.find(path));
  }

  readdir(path: string): string[] {
    const n = this.find(path);
    if (n.kind !== 'dir') fail('ENOTDIR', `${path}: not a directory`);
    return [...n.children.keys()].sort();
  }

  readFile(path: string): string {
    const n = this.find(path);
    if (n.kind === 'dir') fail('EISDIR', `${path}: is a directory`);
    if (n.kind !== 'file') fail('EINVAL', `${path}: not a regular file`);
    return n.content;
  }

  readlink(path: string): string {
    const n = this.find(path);
    if (n.kind !== 'symlink') fail('EINVAL', `${path}: not a symlink`);
    return n.target;
  }

  mkdir(path: string, opts?: CreateOptions): void {
    this.gen++;
    this.add(path, this.node('dir', opts));
  }

  writeFile(path: string, content: string, opts: CreateOptions & { append?: boolean } = {}): void {
    this.gen++;
    const [dir, name] = this.parentOf(path);
    const existing = dir.children.get(name);
    if (existing) {
      if (existing.kind === 'dir') fail('EISDIR', `${path}: is a directory`);
      if (existing.kind !== 'file') fail('EINVAL', `${path}: not a regular file`);
      existing.content = opts.append ? existing.content + content : content;
      return;
    }
    const n = this.node('file', opts);
    n.content = content;
    dir.children.set(name, n);
  }

  mknod(path: string, major: number, minor: number, opts?: CreateOptions): void {
    this.gen++;
    const n = this.node('chardev', opts);
    n.rdevMajor = major;
    n.rdevMinor = minor;
    this.add(path, n);
  }

  symlink(target: string, path: string, opts?: CreateOptions): void {
    this.gen++;
    const n = this.node('symlink', opts);
    n.target = target;
    this.add(path, n);
  }

  unlink(path: string): void {
    this.gen++;
    const [dir, name] = this.parentOf(path);
    const n = dir.children.get(name);
    if (!n) fail('ENOENT', `${path}: no such file or directory`);
    if (n.kind === 'dir') fail('EISDIR', `${path}: is a directory`);
    dir.children.delete(name);
  }

  rmdir(path: string): void {
    this.gen++;
    const [dir, name] = this.parentOf(path);
    const n = dir.children.get(name);
    if (!n) fail('ENOENT', `${path}: no such file or directory`);
    if (n.kind !== 'dir') fail('ENOTDIR', `${path}: not a directory`);
    if (n.children.size > 0) fail('ENOTEMPTY', `${path}: directory not empty`);
    dir.children.delete(name);
  }

  rename(from: string, to: string): void {
    this.gen++;
    const [fromDir, fromName] = this.parentOf(from);
    const n = fromDir.children.get(fromName);
    if (!n) fail('ENOENT', `${from}: no such file or directory`);
    const [toDir, toName] = this.parentOf(to);
    if (n.kind === 'dir' && isUnder(to, from) && to !== from) fail('EINVAL', `${to} is inside ${from}`);
    const target = toDir.children.get(toName);
    if (target === n) return;
    if (target) {
      if (n.kind === 'dir' && target.kind !== 'dir') fail('ENOTDIR', `${to}: not a directory`);
      if (n.kind !== 'dir' && target.kind === 'dir') fail('EISDIR', `${to}: is a directory`);
      if (target.kind === 'dir' && target.children.size > 0) fail('ENOTEMPTY', `${to}: directory not empty`);
    }
    fromDir.children.delete(fromName);
    toDir.children.set(toName, n);
  }

  chmod(path: string, mode: number): void {
    this.gen++;
    this.find(path).mode = mode & 0o7777;
  }

  chown(path: string, uid: number, gid: number): void {
    this.gen++;
    const n = this.find(path);
    n.uid = uid;
    n.gid = gid;
  }

  getxattr(path: string, name: string): string | null {
    return this.find(path).xattrs.get(name) ?? null;
  }

  setxattr(path: string, name: string, value: string): void {
    this.gen++;
    this.find(path).xattrs.set(name, value);
  }

  removexattr(path: string, name: string): void {
    this.gen++;
    const n = this.find(path);
    if (!n.xattrs.delete(name)) fail('ENODATA', `${path}: no xattr ${name}`);
  }

  listxattr(path: string): string[] {
    return [...this.find(path).xattrs.keys()].sort();
  }
}

/** Remove `path` and everything below it. */
export function removeTree(fs: FileSystem, path: string): void {
  const st = fs.lstat(path);
  if (st.kind !== 'dir') {
    fs.unlink(path);
    return;
  }
  for (const name of fs.readdir(path)) removeTree(fs, childPath(path, name));
  fs.rmdir(path);
}
