// Tar writer: POSIX ustar headers, with a PAX extended header when a field does not fit
// (long paths/link targets, big sizes or ids, fractional/negative mtimes, xattrs).

import { Buffer } from 'node:buffer';
import {
  BLOCK,
  F,
  octalMax,
  paxRecord,
  splitUstarPath,
  typeflagOf,
  writeChecksum,
  writeOctal,
  writeString,
} from './header.js';
import { TarError, type TarBody, type TarInput, type TarWriteHeader } from './types.js';

export interface TarWriterOptions {
  /**
   * Reproducible output: every entry gets the fixed `mtime` (default 0), uid/gid default to 0 and
   * uname/gname to '' (values given in a header are kept), and write() sorts entries by path.
   */
  deterministic?: boolean;
  /** The fixed mtime (seconds) used in deterministic mode. */
  mtime?: number;
}

const ZERO = Buffer.alloc(BLOCK * 2);

function defaultMode(type: TarWriteHeader['type']): number {
  switch (type) {
    case 'dir':
      return 0o755;
    case 'symlink':
      return 0o777;
    default:
      return 0o644;
  }
}

function basename(path: string): string {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  const i = trimmed.lastIndexOf('/');
  return i < 0 ? trimmed : trimmed.slice(i + 1);
}

function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  const b = Buffer.from(s, 'utf8');
  let end = max;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--; // do not cut a multi-byte character
  return b.toString('utf8', 0, end);
}

/** Compares two archive paths component by component (bytewise), so parents sort before children. */
export function comparePaths(a: string, b: string): number {
  const pa = a.split('/').filter((p) => p !== '' && p !== '.');
  const pb = b.split('/').filter((p) => p !== '' && p !== '.');
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const c = Buffer.compare(Buffer.from(pa[i]!, 'utf8'), Buffer.from(pb[i]!, 'utf8'));
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

function bodySize(header: TarWriteHeader, body: TarBody | undefined): number {
  if (header.type !== 'file') return 0;
  if (body instanceof Uint8Array || typeof body === 'string') {
    const n = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
    if (header.size !== undefined && header.size !== n) {
      throw new TarError(`header.size ${header.size} differs from the body's ${n} bytes`, {
        entry: header.path,
      });
    }
    return n;
  }
  if (body === undefined) return header.size ?? 0;
  if (header.size === undefined) {
    throw new TarError('a streamed file body needs header.size', { entry: header.path });
  }
  return header.size;
}

function padding(size: number): number {
  const rem = size % BLOCK;
  return rem === 0 ? 0 : BLOCK - rem;
}

/** Produces tar chunks. Stateless apart from its options; one instance can write many archives. */
export class TarWriter {
  readonly deterministic: boolean;
  readonly fixedMtime: number;

  constructor(opts: TarWriterOptions = {}) {
    this.deterministic = opts.deterministic ?? false;
    this.fixedMtime = opts.mtime ?? 0;
  }

  /** The header block(s) for one entry: a PAX 'x' header when needed, then the ustar header. */
  encodeHeader(header: TarWriteHeader, size = bodySize(header, undefined)): Buffer {
    const type = header.type;
    let path = header.path;
    if (path === '') throw new TarError('entry with an empty path');
    if (type === 'dir' && !path.endsWith('/')) path += '/';
    const mtime = this.deterministic ? this.fixedMtime : (header.mtime ?? Math.floor(Date.now() / 1000));
    const uid = header.uid ?? 0;
    const gid = header.gid ?? 0;
    const uname = header.uname ?? '';
    const gname = header.gname ?? '';
    const linkpath = type === 'symlink' || type === 'hardlink' ? (header.linkpath ?? '') : '';
    if ((type === 'symlink' || type === 'hardlink') && linkpath === '') {
      throw new TarError(`${type} without a link target`, { entry: path });
    }
    for (const [what, v] of [
      ['uid', uid],
      ['gid', gid],
      ['size', size],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw new TarError(`invalid ${what} ${v}`, { entry: path });
    }
    if (!Number.isFinite(mtime)) throw new TarError(`invalid mtime ${mtime}`, { entry: path });

    const pax: Buffer[] = [];
    const block = Buffer.alloc(BLOCK);
    const split = splitUstarPath(path);
    if (split) {
      writeString(block, F.name, split.name);
      writeString(block, F.prefix, split.prefix);
    } else {
      pax.push(paxRecord('path', path));
      writeString(block, F.name, truncateUtf8(path, 100));
    }
    writeOctal(block, F.mode, (header.mode ?? defaultMode(type)) & 0o7777);
    for (const [key, field, v] of [
      ['uid', F.uid, uid],
      ['gid', F.gid, gid],
      ['size', F.size, size],
    ] as const) {
      if (v > octalMax(field[1])) {
        pax.push(paxRecord(key, String(v)));
        writeOctal(block, field, 0);
      } else {
        writeOctal(block, field, v);
      }
    }
    if (!Number.isInteger(mtime) || mtime < 0 || mtime > octalMax(F.mtime[1])) {
      pax.push(paxRecord('mtime', String(mtime)));
      writeOctal(block, F.mtime, Math.min(Math.max(Math.floor(mtime), 0), octalMax(F.mtime[1])));
    } else {
      writeOctal(block, F.mtime, mtime);
    }
    block[156] = typeflagOf(type);
    if (!writeString(block, F.linkname, linkpath)) {
      pax.push(paxRecord('linkpath', linkpath));
      writeString(block, F.linkname, truncateUtf8(linkpath, 100));
    }
    block.write('ustar\u000000', 257, 8, 'latin1');
    for (const [key, field, v] of [
      ['uname', F.uname, uname],
      ['gname', F.gname, gname],
    ] as const) {
      if (!writeString(block, field, v)) {
        pax.push(paxRecord(key, v));
        writeString(block, field, truncateUtf8(v, 31));
      }
    }
    if (type === 'char' || type === 'block') {
      writeOctal(block, F.devmajor, header.devmajor ?? 0);
      writeOctal(block, F.devminor, header.devminor ?? 0);
    }
    if (header.xattrs) {
      for (const name of Object.keys(header.xattrs).sort()) {
        pax.push(paxRecord(`SCHILY.xattr.${name}`, header.xattrs[name]!));
      }
    }
    writeChecksum(block);
    if (pax.length === 0) return block;

    const paxBody = Buffer.concat(pax);
    const paxHeader = this.encodeHeader(
      {
        path: truncateUtf8(`PaxHeaders/${basename(path)}`, 100),
        type: 'file',
        mode: 0o644,
        mtime: Math.min(Math.max(Math.floor(mtime), 0), octalMax(F.mtime[1])),
      },
      paxBody.length,
    );
    paxHeader[156] = 0x78; // 'x'
    writeChecksum(paxHeader);
    return Buffer.concat([paxHeader, paxBody, Buffer.alloc(padding(paxBody.length)), block]);
  }

  /** All chunks of one entry: header blocks, body and padding. Checks the body length. */
  async *entry(header: TarWriteHeader, body?: TarBody): AsyncGenerator<Uint8Array, void, undefined> {
    const size = bodySize(header, body);
    const head = this.encodeHeader(header, size);
    if (header.type !== 'file' || size === 0) {
      yield head;
      return;
    }
    if (body === undefined)
      throw new TarError(`file of ${size} bytes without a body`, { entry: header.path });
    if (typeof body === 'string' || body instanceof Uint8Array) {
      const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      yield Buffer.concat([head, bytes, Buffer.alloc(padding(size))]);
      return;
    }
    yield head;
    const src = typeof body === 'function' ? body() : body;
    let written = 0;
    for await (const chunk of src) {
      written += chunk.length;
      if (written > size) {
        throw new TarError(`body longer than the declared size ${size}`, { entry: header.path });
      }
      if (chunk.length > 0) yield chunk;
    }
    if (written !== size) {
      throw new TarError(`body of ${written} bytes shorter than the declared size ${size}`, {
        entry: header.path,
      });
    }
    const pad = padding(size);
    if (pad > 0) yield Buffer.alloc(pad);
  }

  /** The end-of-archive marker: two zero blocks. */
  end(): Buffer {
    return ZERO;
  }

  /**
   * A whole archive. In deterministic mode the inputs are collected first and sorted by path (pass
   * lazy bodies, `() => stream`, to keep memory bounded). Small chunks are coalesced.
   */
  async *write(
    inputs: Iterable<TarInput> | AsyncIterable<TarInput>,
  ): AsyncGenerator<Uint8Array, void, undefined> {
    const raw = async function* (this: TarWriter): AsyncGenerator<Uint8Array, void, undefined> {
      let list: Iterable<TarInput> | AsyncIterable<TarInput> = inputs;
      if (this.deterministic) {
        const all: TarInput[] = [];
        for await (const i of inputs) all.push(i);
        all.sort((a, b) => comparePaths(a.header.path, b.header.path));
        list = all;
      }
      for await (const input of list) yield* this.entry(input.header, input.body);
      yield this.end();
    };
    yield* coalesce(raw.call(this));
  }
}

/**
 * Merges small chunks into buffers of about `target` bytes; chunks at least half that size pass
 * through untouched (after flushing what was pending), so big file bodies are never copied.
 */
export async function* coalesce(
  source: AsyncIterable<Uint8Array>,
  target = 256 * 1024,
): AsyncGenerator<Uint8Array, void, undefined> {
  let buf = Buffer.allocUnsafe(target);
  let used = 0;
  for await (const chunk of source) {
    if (chunk.length >= target / 2) {
      if (used > 0) {
        yield buf.subarray(0, used);
        buf = Buffer.allocUnsafe(target);
        used = 0;
      }
      yield chunk;
      continue;
    }
    if (used + chunk.length > target) {
      yield buf.subarray(0, used);
      buf = Buffer.allocUnsafe(target);
      used = 0;
    }
    buf.set(chunk, used);
    used += chunk.length;
  }
  if (used > 0) yield buf.subarray(0, used);
}
