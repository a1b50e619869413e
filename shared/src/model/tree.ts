// A comparable listing of a directory tree, for tests and lessons: one entry per file, sorted by path.
// Works over a FileSystem or a Process (anything with lstat/readdir/readFile/readlink/getxattr).

import type { FileKind, Stat } from './fs.js';
import { childPath } from './path.js';

export interface TreeReader {
  lstat(path: string): Stat;
  readdir(path: string): string[];
  readFile(path: string): string;
  readlink(path: string): string;
  getxattr(path: string, name: string): string | null;
}

export interface TreeEntry {
  /** Path relative to the listed root, "/"-prefixed. */
  path: string;
  kind: FileKind;
  mode: number;
  content?: string;
  target?: string;
  /** "major:minor" for character devices (whiteouts are "0:0"). */
  rdev?: string;
  /** Values of the requested xattrs that are set. */
  xattrs?: Record<string, string>;
}

export interface SnapshotOptions {
  /** Xattr names to record (e.g. trusted.overlay.opaque). */
  xattrs?: readonly string[];
  /** Leave out file contents. */
  noContent?: boolean;
}

export function snapshotTree(reader: TreeReader, root: string, opts: SnapshotOptions = {}): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (abs: string, rel: string): void => {
    for (const name of reader.readdir(abs)) {
      const a = childPath(abs, name);
      const r = childPath(rel, name);
      const st = reader.lstat(a);
      const e: TreeEntry = { path: r, kind: st.kind, mode: st.mode };
      if (st.kind === 'file' && !opts.noContent) e.content = reader.readFile(a);
      if (st.kind === 'symlink') e.target = reader.readlink(a);
      if (st.kind === 'chardev') e.rdev = `${st.rdevMajor}:${st.rdevMinor}`;
      const xattrs: Record<string, string> = {};
      for (const x of opts.xattrs ?? []) {
        const v = reader.getxattr(a, x);
        if (v !== null) xattrs[x] = v;
      }
      if (Object.keys(xattrs).length > 0) e.xattrs = xattrs;
      out.push(e);
      if (st.kind === 'dir') walk(a, r);
    }
  };
  walk(root, '/');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** One line per entry: "d 755 /a", "f 644 /a/t1 = hello", "l 777 /x -> y", "c 000 /gone 0:0 opaque". */
export function renderTree(entries: readonly TreeEntry[]): string {
  const letter: Record<FileKind, string> = { dir: 'd', file: 'f', symlink: 'l', chardev: 'c' };
  return entries
    .map((e) => {
      let s = `${letter[e.kind]} ${e.mode.toString(8).padStart(3, '0')} ${e.path}`;
      if (e.content !== undefined) s += ` = ${JSON.stringify(e.content)}`;
      if (e.target !== undefined) s += ` -> ${e.target}`;
      if (e.rdev !== undefined) s += ` ${e.rdev}`;
      for (const [k, v] of Object.entries(e.xattrs ?? {})) s += ` ${k}=${v}`;
      return s + '\n';
    })
    .join('');
}
