// Streaming tar reader: ustar, PAX ('x' and 'g') and GNU long names ('L'/'K').

import { Buffer } from 'node:buffer';
import { BLOCK, F, checksums, entryTypeOf, isZeroBlock, parsePax, readNumber, readString } from './header.js';
import { TarError, type TarEntry, type TarEntryType } from './types.js';

/** Meta records (PAX bodies, GNU long names) are buffered; anything larger is refused. */
const MAX_META_BYTES = 16 * 1024 * 1024;
const DEFAULT_BUFFER_LIMIT = 64 * 1024 * 1024;
const EMPTY = new Uint8Array(0);
const NO_RECORDS: ReadonlyMap<string, Buffer> = new Map();

/** Pulls bytes from an async iterable of chunks without copying where it can. */
export class ChunkReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Uint8Array = EMPTY;
  private pos = 0;
  private eof = false;
  /** Bytes consumed so far. */
  position = 0;

  constructor(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.it =
      Symbol.asyncIterator in source
        ? source[Symbol.asyncIterator]()
        : (async function* () {
            yield* source;
          })();
  }

  private async fill(): Promise<boolean> {
    while (this.pos >= this.buf.length) {
      if (this.eof) return false;
      const r = await this.it.next();
      if (r.done) {
        this.eof = true;
        return false;
      }
      this.buf = r.value;
      this.pos = 0;
    }
    return true;
  }

  /** Up to `n` bytes as a view of the current chunk; null at end of input. */
  async readUpTo(n: number): Promise<Uint8Array | null> {
    if (!(await this.fill())) return null;
    const take = Math.min(n, this.buf.length - this.pos);
    const out = this.buf.subarray(this.pos, this.pos + take);
    this.pos += take;
    this.position += take;
    return out;
  }

  /** Exactly `n` bytes (copied only when they span chunks); fewer only at end of input. */
  async readExact(n: number): Promise<Uint8Array> {
    if (!(await this.fill())) return EMPTY;
    if (this.buf.length - this.pos >= n) {
      const out = this.buf.subarray(this.pos, this.pos + n);
      this.pos += n;
      this.position += n;
      return out;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const part = await this.readUpTo(n - got);
      if (part === null) return out.subarray(0, got);
      out.set(part, got);
      got += part.length;
    }
    return out;
  }

  /** Discards `n` bytes; returns how many were actually there. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const part = await this.readUpTo(left);
      if (part === null) break;
      left -= part.length;
    }
    return n - left;
  }

  /** Reads to the end of the input (so that a digest tap on the source sees every byte). */
  async drain(): Promise<void> {
    while ((await this.readUpTo(Number.MAX_SAFE_INTEGER)) !== null) {
      // discard
    }
  }

  async close(): Promise<void> {
    if (!this.eof) {
      this.eof = true;
      await this.it.return?.();
    }
  }
}

function padding(size: number): number {
  const rem = size % BLOCK;
  return rem === 0 ? 0 : BLOCK - rem;
}

function stripNul(b: Uint8Array): string {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return Buffer.from(b.buffer, b.byteOffset, end).toString('utf8');
}

interface Pending {
  pax: Map<string, Buffer> | null;
  longName: string | null;
  longLink: string | null;
  start: number;
}

function paxNumber(v: Buffer | undefined, key: string, offset: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.toString('latin1'));
  if (!Number.isFinite(n)) throw new TarError(`invalid PAX ${key} value`, { offset });
  return n;
}

export interface ReadTarOptions {
  /**
   * After the end-of-archive marker keep reading the source to its end (default true), so that a
   * digest computed over the source covers the trailing padding too.
   */
  drain?: boolean;
}

/**
 * Reads a tar stream entry by entry. Each entry's body must be consumed (or left alone) before the
 * next entry is requested; unread body bytes are skipped. Memory use is bounded by the source's
 * chunk size (plus meta records up to 16 MiB).
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  opts: ReadTarOptions = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const r = new ChunkReader(source);
  let global = new Map<string, Buffer>();
  let pending: Pending = { pax: null, longName: null, longLink: null, start: -1 };
  let completed = false;
  try {
    for (;;) {
      const offset = r.position;
      const block = await r.readExact(BLOCK);
      if (block.length === 0) {
        // End of input without the two zero blocks; accept it like GNU tar unless mid-entry.
        if (pending.start >= 0) throw new TarError('archive ends inside an entry', { offset });
        break;
      }
      if (block.length < BLOCK) throw new TarError('archive truncated inside a header block', { offset });
      if (isZeroBlock(block)) break;

      const sums = checksums(block);
      const stored = readNumber(block, F.chksum);
      if (stored !== sums.unsigned && stored !== sums.signed) {
        const name = readString(block, F.name);
        throw new TarError(`header checksum mismatch (stored ${stored}, computed ${sums.unsigned})`, {
          entry: name,
          offset,
        });
      }
      const flag = block[156]!;
      const size = readNumber(block, F.size);
      if (pending.start < 0) pending.start = offset;

      // Meta entries: buffer their (small) bodies and apply them to the next real entry.
      if (flag === 0x78 /* x */ || flag === 0x67 /* g */ || flag === 0x4c /* L */ || flag === 0x4b /* K */) {
        if (size > MAX_META_BYTES) {
          throw new TarError(`meta entry of ${size} bytes is too large`, {
            entry: readString(block, F.name),
            offset,
          });
        }
        const body = await r.readExact(size);
        if (body.length < size) throw new TarError('archive truncated inside a meta entry', { offset });
        // Copy: the view may point into a source buffer that will be reused.
        const copy = Buffer.from(body);
        await r.skip(padding(size));
        if (flag === 0x78) {
          const recs = parsePax(copy, offset);
          pending.pax ??= new Map();
          for (const [k, v] of recs) pending.pax.set(k, v);
        } else if (flag === 0x67) {
          global = new Map([...global, ...parsePax(copy, offset)]);
          pending.start = -1;
        } else if (flag === 0x4c) {
          pending.longName = stripNul(copy);
        } else {
          pending.longLink = stripNul(copy);
        }
        continue;
      }
      if (flag === 0x56 /* V: volume label */) {
        await r.skip(size + padding(size));
        pending = { pax: null, longName: null, longLink: null, start: -1 };
        continue;
      }

      const type: TarEntryType | null = entryTypeOf(flag);
      const rawName = readString(block, F.name);
      if (type === null) {
        throw new TarError(`unsupported entry type '${String.fromCharCode(flag)}'`, {
          entry: rawName,
          offset,
        });
      }
      const magic = readString(block, F.magic);
      const version = readString(block, F.version);
      const posix = magic === 'ustar' && version === '00';
      const prefix = posix ? readString(block, F.prefix) : '';

      const pax =
        global.size === 0 ? (pending.pax ?? NO_RECORDS) : new Map([...global, ...(pending.pax ?? [])]);
      const get = (k: string): Buffer | undefined => pax.get(k);
      const text = (k: string): string | undefined => get(k)?.toString('utf8');

      const path = text('path') ?? pending.longName ?? (prefix ? `${prefix}/${rawName}` : rawName);
      let linkpath = text('linkpath') ?? pending.longLink ?? readString(block, F.linkname);
      // Old (pre-POSIX) archives mark directories only with a trailing slash on a regular entry.
      let entryType = type;
      if (flag === 0 && path.endsWith('/')) entryType = 'dir';
      if (entryType !== 'symlink' && entryType !== 'hardlink') linkpath = '';
      if (path === '') throw new TarError('entry with an empty name', { offset });

      if (
        flag === 0x53 /* S */ ||
        get('GNU.sparse.major') ||
        get('GNU.sparse.size') ||
        get('GNU.sparse.map')
      ) {
        // The body would be a sparse map plus data, not the file's bytes: refuse rather than misread.
        throw new TarError('GNU sparse files are not supported', { entry: path, offset });
      }
      const entrySize = paxNumber(get('size'), 'size', offset) ?? size;
      const bodySize = entryType === 'file' ? entrySize : 0;
      // Like Go's archive/tar, only regular files carry data; other types' size fields are ignored.
      const skipSize = bodySize;
      const xattrs: Record<string, Uint8Array> = {};
      for (const [k, v] of pax) {
        if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice('SCHILY.xattr.'.length)] = v;
        else if (k.startsWith('LIBARCHIVE.xattr.')) {
          xattrs[decodeURIComponent(k.slice('LIBARCHIVE.xattr.'.length))] = Buffer.from(
            v.toString('latin1'),
            'base64',
          );
        }
      }

      let remaining = skipSize;
      let bodyTaken = false;
      let finished = false;
      const start = pending.start;
      pending = { pax: null, longName: null, longLink: null, start: -1 };

      const body = (): AsyncIterable<Uint8Array> => {
        if (bodyTaken) throw new TarError('entry body already consumed', { entry: path, offset: start });
        if (finished)
          throw new TarError('entry body requested after moving to the next entry', { entry: path });
        bodyTaken = true;
        return (async function* () {
          while (remaining > 0) {
            if (finished)
              throw new TarError('entry body read after moving to the next entry', { entry: path });
            const chunk = await r.readUpTo(remaining);
            if (chunk === null)
              throw new TarError('archive truncated inside a file body', { entry: path, offset: start });
            remaining -= chunk.length;
            yield chunk;
          }
        })();
      };

      const entry: TarEntry = {
        path,
        type: entryType,
        mode: readNumber(block, F.mode) & 0o7777,
        uid: paxNumber(get('uid'), 'uid', offset) ?? readNumber(block, F.uid),
        gid: paxNumber(get('gid'), 'gid', offset) ?? readNumber(block, F.gid),
        uname: text('uname') ?? readString(block, F.uname),
        gname: text('gname') ?? readString(block, F.gname),
        size: bodySize,
        mtime: paxNumber(get('mtime'), 'mtime', offset) ?? readNumber(block, F.mtime),
        linkpath,
        devmajor: entryType === 'char' || entryType === 'block' ? readNumber(block, F.devmajor) : 0,
        devminor: entryType === 'char' || entryType === 'block' ? readNumber(block, F.devminor) : 0,
        xattrs,
        offset: start,
        body,
        async buffer(maxBytes = DEFAULT_BUFFER_LIMIT): Promise<Buffer> {
          if (bodySize > maxBytes) {
            throw new TarError(`body of ${bodySize} bytes exceeds the ${maxBytes}-byte buffer limit`, {
              entry: path,
              offset: start,
            });
          }
          const out = Buffer.allocUnsafe(bodySize);
          let at = 0;
          for await (const chunk of body()) {
            out.set(chunk, at);
            at += chunk.length;
          }
          return out;
        },
      };
      yield entry;
      finished = true;
      if (remaining > 0) {
        const skipped = await r.skip(remaining);
        if (skipped < remaining)
          throw new TarError('archive truncated inside a file body', { entry: path, offset: start });
        remaining = 0;
      }
      const pad = padding(skipSize);
      if ((await r.skip(pad)) < pad)
        throw new TarError('archive truncated inside padding', { entry: path, offset: start });
    }
    completed = true;
  } finally {
    if (completed && opts.drain !== false) await r.drain();
    else await r.close();
  }
}
