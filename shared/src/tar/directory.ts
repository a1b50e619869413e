// tarDirectory: a directory tree as a layer tar, walked in sorted order, with hardlinks detected
// by (dev, ino) and, on request, overlayfs whiteouts converted to OCI form.

import { Buffer } from 'node:buffer';
import { constants as fsc, type Stats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { coalesce, TarWriter } from './writer.js';
import { TarError, type TarWriteHeader } from './types.js';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';

export interface TarDirectoryOptions {
  /**
   * 'overlay': the tree is an overlayfs upper dir; a 0/0 character device becomes a `.wh.NAME`
   * entry and a directory for which isOpaque() is true gets a `DIR/.wh..wh..opq` entry.
   * 'none' (default): device nodes are written as they are.
   */
  whiteouts?: 'none' | 'overlay';
  /** Whether a directory (relative path, no trailing slash) is opaque (trusted.overlay.opaque=y). */
  isOpaque?: (relPath: string) => boolean;
  /** Fixed mtime on every entry (seconds, `mtime` or 0); ownership still comes from the files. */
  deterministic?: boolean;
  mtime?: number;
  /** Override owners on every entry (for rootless commits). */
  uid?: number;
  gid?: number;
  /** Skip entries for which this returns false (a skipped directory is not descended into). */
  filter?: (relPath: string, stats: Stats) => boolean;
  /** Read size for file bodies (default 1 MiB). */
  readSize?: number;
}

function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Linux dev_t split (glibc gnu_dev_major/minor). */
export function splitDev(rdev: number): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn & 0xffffffffn));
  return { major, minor };
}

async function* readFileBody(abs: string, size: number, readSize: number): AsyncGenerator<Uint8Array> {
  const fh = await open(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    let left = size;
    while (left > 0) {
      const want = Math.min(left, readSize);
      const buf = Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, null);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < want)
        throw new TarError(`file shrank while being read (${size} bytes expected)`, { entry: abs });
      left -= got;
      yield buf;
    }
  } finally {
    await fh.close();
  }
}

/** Writes the tree under `dir` (not `dir` itself) as an uncompressed tar stream. */
export async function* tarDirectory(
  dir: string,
  opts: TarDirectoryOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const writer = new TarWriter({ deterministic: false });
  const fixedMtime = opts.deterministic ? (opts.mtime ?? 0) : undefined;
  const overlay = opts.whiteouts === 'overlay';
  const readSize = opts.readSize ?? 1024 * 1024;
  const links = new Map<string, string>();

  async function* walk(absDir: string, relDir: string): AsyncGenerator<Uint8Array, void, undefined> {
    const names = (await readdir(absDir)).sort(byteCompare);
    for (const name of names) {
      const abs = join(absDir, name);
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const st = await lstat(abs);
      if (opts.filter && !opts.filter(rel, st)) continue;
      const base: Omit<TarWriteHeader, 'path' | 'type'> = {
        mode: st.mode & 0o7777,
        uid: opts.uid ?? st.uid,
        gid: opts.gid ?? st.gid,
        mtime: fixedMtime ?? Math.floor(st.mtimeMs / 1000),
      };
      if (st.isDirectory()) {
        yield* writer.entry({ ...base, path: `${rel}/`, type: 'dir' });
        if (overlay && opts.isOpaque?.(rel)) {
          yield* writer.entry(
            { ...base, mode: st.mode & 0o777, path: `${rel}/${WHITEOUT_OPAQUE}`, type: 'file' },
            '',
          );
        }
        yield* walk(abs, rel);
        continue;
      }
      if (st.isCharacterDevice() && overlay && st.rdev === 0) {
        const wh = relDir === '' ? `${WHITEOUT_PREFIX}${name}` : `${relDir}/${WHITEOUT_PREFIX}${name}`;
        yield* writer.entry({ ...base, mode: 0o600, path: wh, type: 'file' }, '');
        continue;
      }
      if (!st.isDirectory() && st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          yield* writer.entry({ ...base, path: rel, type: 'hardlink', linkpath: first });
          continue;
        }
        links.set(key, rel);
      }
      if (st.isFile()) {
        const size = st.size;
        yield* writer.entry({ ...base, path: rel, type: 'file', size }, () =>
          readFileBody(abs, size, readSize),
        );
      } else if (st.isSymbolicLink()) {
        yield* writer.entry({ ...base, path: rel, type: 'symlink', linkpath: await readlink(abs) });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = splitDev(st.rdev);
        const type = st.isCharacterDevice() ? 'char' : 'block';
        yield* writer.entry({ ...base, path: rel, type, devmajor: major, devminor: minor });
      } else if (st.isFIFO()) {
        yield* writer.entry({ ...base, path: rel, type: 'fifo' });
      }
      // Sockets are skipped, as GNU tar and Docker do.
    }
  }

  async function* all(): AsyncGenerator<Uint8Array, void, undefined> {
    yield* walk(dir, '');
    yield writer.end();
  }
  yield* coalesce(all());
}
