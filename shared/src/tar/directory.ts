// tarDirectory: a directory tree as a layer tar, walked in sorted order, with hardlinks detected
// by (dev, ino) and, on request, overlayfs whiteouts converted to OCI form.

import { Buffer } from 'node:buffer';
import {
  closeSync,
  constants as fsc,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  type Stats,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { BLOCK } from './header.js';
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

/** Files up to this size are read with one synchronous read into the output chunk. */
const SMALL_FILE = 256 * 1024;

function shrank(abs: string, size: number): TarError {
  return new TarError(`file shrank while being read (${size} bytes expected)`, { entry: abs });
}

/** A large file's bytes, with the next read already in flight while the consumer handles a chunk. */
async function* readFileBody(abs: string, size: number, readSize: number): AsyncGenerator<Uint8Array> {
  const fh = await open(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  const readAt = async (pos: number, len: number): Promise<Buffer> => {
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
      if (bytesRead === 0) throw shrank(abs, size);
      got += bytesRead;
    }
    return buf;
  };
  let next: Promise<Buffer> | null = size > 0 ? readAt(0, Math.min(readSize, size)) : null;
  let offset = 0;
  try {
    while (next !== null) {
      const buf: Buffer = await next;
      offset += buf.length;
      next = offset < size ? readAt(offset, Math.min(readSize, size - offset)) : null;
      yield buf;
    }
  } finally {
    if (next !== null) await next.catch(() => undefined);
    await fh.close();
  }
}

/** Header, body and padding of a small file in one buffer, read synchronously. */
function smallFileChunk(abs: string, header: Buffer, size: number): Buffer {
  const total = header.length + size + ((BLOCK - (size % BLOCK)) % BLOCK);
  const out = Buffer.allocUnsafe(total);
  header.copy(out, 0);
  if (size === 0) return out;
  const fd = openSync(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    let got = 0;
    while (got < size) {
      const n = readSync(fd, out, header.length + got, size - got, got);
      if (n === 0) throw shrank(abs, size);
      got += n;
    }
  } finally {
    closeSync(fd);
  }
  out.fill(0, header.length + size);
  return out;
}

/**
 * Writes the tree under `dir` (not `dir` itself) as an uncompressed tar stream, in sorted order.
 * Metadata calls and small-file reads are synchronous (each costs microseconds; a thread-pool
 * round trip per call would dominate a tree of small files); large files stream asynchronously.
 */
export async function* tarDirectory(
  dir: string,
  opts: TarDirectoryOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  yield* coalesce(walkTree(dir, opts));
}

async function* walkTree(
  dir: string,
  opts: TarDirectoryOptions,
): AsyncGenerator<Uint8Array, void, undefined> {
  const writer = new TarWriter({ deterministic: false });
  const fixedMtime = opts.deterministic ? (opts.mtime ?? 0) : undefined;
  const overlay = opts.whiteouts === 'overlay';
  const readSize = opts.readSize ?? 1024 * 1024;
  const links = new Map<string, string>();
  const list = (absDir: string): string[] => readdirSync(absDir).sort(byteCompare);
  // An explicit stack instead of recursion: no generator delegation per directory level.
  const stack: { absDir: string; relDir: string; names: string[]; i: number }[] = [
    { absDir: dir, relDir: '', names: list(dir), i: 0 },
  ];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.i >= top.names.length) {
      stack.pop();
      continue;
    }
    const name = top.names[top.i++]!;
    const { absDir, relDir } = top;
    const abs = `${absDir}/${name}`;
    const rel = relDir === '' ? name : `${relDir}/${name}`;
    const st = lstatSync(abs);
    if (opts.filter && !opts.filter(rel, st)) continue;
    const base: Omit<TarWriteHeader, 'path' | 'type'> = {
      mode: st.mode & 0o7777,
      uid: opts.uid ?? st.uid,
      gid: opts.gid ?? st.gid,
      mtime: fixedMtime ?? Math.floor(st.mtimeMs / 1000),
    };
    if (st.isDirectory()) {
      yield writer.encodeHeader({ ...base, path: `${rel}/`, type: 'dir' });
      if (overlay && opts.isOpaque?.(rel)) {
        yield writer.encodeHeader({
          ...base,
          mode: st.mode & 0o777,
          path: `${rel}/${WHITEOUT_OPAQUE}`,
          type: 'file',
        });
      }
      stack.push({ absDir: abs, relDir: rel, names: list(abs), i: 0 });
      continue;
    }
    if (st.isCharacterDevice() && overlay && st.rdev === 0) {
      const wh = relDir === '' ? `${WHITEOUT_PREFIX}${name}` : `${relDir}/${WHITEOUT_PREFIX}${name}`;
      yield writer.encodeHeader({ ...base, mode: 0o600, path: wh, type: 'file' });
      continue;
    }
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first !== undefined) {
        yield writer.encodeHeader({ ...base, path: rel, type: 'hardlink', linkpath: first });
        continue;
      }
      links.set(key, rel);
    }
    if (st.isFile()) {
      const size = st.size;
      const header = writer.encodeHeader({ ...base, path: rel, type: 'file', size }, size);
      if (size <= SMALL_FILE) {
        yield smallFileChunk(abs, header, size);
      } else {
        yield header;
        yield* readFileBody(abs, size, readSize);
        const pad = (BLOCK - (size % BLOCK)) % BLOCK;
        if (pad > 0) yield Buffer.alloc(pad);
      }
    } else if (st.isSymbolicLink()) {
      yield writer.encodeHeader({ ...base, path: rel, type: 'symlink', linkpath: readlinkSync(abs) });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = splitDev(st.rdev);
      const type = st.isCharacterDevice() ? 'char' : 'block';
      yield writer.encodeHeader({ ...base, path: rel, type, devmajor: major, devminor: minor });
    } else if (st.isFIFO()) {
      yield writer.encodeHeader({ ...base, path: rel, type: 'fifo' });
    }
    // Sockets are skipped, as GNU tar and Docker do.
  }
  yield writer.end();
}
