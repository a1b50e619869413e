// Helpers shared by the tar tests.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTar, type TarEntry, type TarHeader } from '../../shared/src/tar/index.js';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** A fresh temporary directory; remember to call cleanup(). */
export function tempDir(prefix = 'strata-tar-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Yields `data` in slices of `size` bytes (to exercise chunk boundaries). */
export async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, Math.min(i + size, data.length));
}

export type ReadEntry = Omit<TarHeader, 'xattrs'> & { xattrs: Record<string, string>; content?: string };

/** Every entry of an archive with its body (as latin1 text) and xattrs as text. */
export async function readAll(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const e of readTar(source)) out.push(await plain(e));
  return out;
}

export async function plain(e: TarEntry): Promise<ReadEntry> {
  const r: ReadEntry = {
    path: e.path,
    type: e.type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    uname: e.uname,
    gname: e.gname,
    size: e.size,
    mtime: e.mtime,
    linkpath: e.linkpath,
    devmajor: e.devmajor,
    devminor: e.devminor,
    xattrs: Object.fromEntries(
      Object.entries(e.xattrs).map(([k, v]) => [k, Buffer.from(v).toString('utf8')]),
    ),
  };
  if (e.type === 'file') r.content = (await e.buffer()).toString('latin1');
  return r;
}

export function sh(cmd: string, args: string[], opts: { cwd?: string; input?: Uint8Array } = {}): Buffer {
  return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 30 });
}

export interface TreeNode {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size?: number;
  sha?: string;
  link?: string;
  /** Index of the first path sharing this inode (hardlinks). */
  linkGroup?: string;
  rdev?: number;
}

/** A comparable description of a directory tree (sorted; the root itself excluded). */
export function snapshotTree(root: string): TreeNode[] {
  const out: TreeNode[] = [];
  const inodes = new Map<number, string>();
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const abs = join(dir, name);
      const p = rel ? `${rel}/${name}` : name;
      const st = lstatSync(abs);
      const n: TreeNode = {
        path: p,
        type: st.isDirectory()
          ? 'dir'
          : st.isFile()
            ? 'file'
            : st.isSymbolicLink()
              ? 'symlink'
              : st.isCharacterDevice()
                ? 'char'
                : st.isBlockDevice()
                  ? 'block'
                  : st.isFIFO()
                    ? 'fifo'
                    : 'other',
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: Math.floor(st.mtimeMs / 1000),
      };
      if (st.isFile()) {
        n.size = st.size;
        n.sha = createHash('sha256').update(readFileSync(abs)).digest('hex');
      }
      if (st.isSymbolicLink()) {
        n.link = readlinkSync(abs);
        delete (n as Partial<TreeNode>).mode; // symlink modes are not settable on Linux
      }
      if (st.isCharacterDevice() || st.isBlockDevice()) n.rdev = st.rdev;
      if (!st.isDirectory() && st.nlink > 1) {
        const first = inodes.get(st.ino);
        if (first === undefined) inodes.set(st.ino, p);
        n.linkGroup = first ?? p;
      }
      out.push(n);
      if (st.isDirectory()) walk(abs, p);
    }
  };
  walk(root, '');
  return out;
}
