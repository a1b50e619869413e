// Where `load` reads an image layout from: a directory (an OCI layout on disk) or a tar stream
// (a file or stdin, optionally gzipped), and the byte-stream helpers load and import share.
//
// A tar is read once, front to back, and its regular files are staged on disk: index.json and
// manifest.json may come after the blobs (they do in docker's and our own archives), so nothing
// can be verified before the whole archive has been seen. Links are never created on disk; they
// are kept as aliases inside the archive's own namespace (legacy `docker save` links identical
// layers as `../<id>/layer.tar`), so no path we open can lead outside the staging directory.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { StrataError } from '../errors.js';
import { cleanComponents, readTar } from '../tar/index.js';
import type { Digest } from '../store/digest.js';

export type ByteSource = AsyncIterable<Uint8Array>;

export interface LayoutSource {
  /** For messages: "archive busybox.tar", "directory ./layout". */
  readonly description: string;
  /**
   * True when files returned by `file()` are private copies in the store's tmp dir, so a verified
   * one may be renamed into the blob store instead of copied.
   */
  readonly owned: boolean;
  /** Absolute path of a regular file at `rel` inside the layout, or null when there is none. */
  file(rel: string): string | null;
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(head: Uint8Array, magic: number[]): boolean {
  return head.length >= magic.length && magic.every((b, i) => head[i] === b);
}

/** Reads the first bytes of a stream without losing them: returns them and the whole stream. */
export async function peek(source: ByteSource, n = 4): Promise<{ head: Uint8Array; stream: ByteSource }> {
  const it = source[Symbol.asyncIterator]();
  const held: Uint8Array[] = [];
  let have = 0;
  let ended = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    held.push(r.value);
    have += r.value.length;
  }
  const head = Buffer.concat(held).subarray(0, n);
  async function* replay(): AsyncGenerator<Uint8Array, void, undefined> {
    yield* held;
    if (ended) return;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  return { head, stream: replay() };
}

export type Compression = 'none' | 'gzip' | 'zstd';

export function sniffCompression(head: Uint8Array): Compression {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

/** Decompresses a gzip stream (multi-member too) with node:zlib, chunk by chunk. */
export async function* gunzip(source: ByteSource): AsyncGenerator<Uint8Array, void, undefined> {
  const input = Readable.from(source, { objectMode: false });
  const z = createGunzip();
  input.on('error', (e) => z.destroy(e));
  input.pipe(z);
  try {
    for await (const chunk of z) yield chunk as Buffer;
  } finally {
    input.destroy();
    z.destroy();
  }
}

/** The stream decompressed when its magic bytes say gzip; zstd is refused (no decoder in Node 20). */
export async function decompressed(source: ByteSource, what: string): Promise<ByteSource> {
  const { head, stream } = await peek(source);
  const c = sniffCompression(head);
  if (c === 'zstd')
    throw new StrataError(
      `${what} is zstd-compressed, which strata cannot decompress: decompress it first (zstd -d)`,
    );
  return c === 'gzip' ? gunzip(stream) : stream;
}

/** Writes a stream to a new file with synchronous writes: each chunk is used before the next is pulled. */
export async function writeStreamToFile(source: ByteSource, file: string): Promise<number> {
  const fd = fs.openSync(file, 'wx', 0o600);
  let size = 0;
  try {
    for await (const chunk of source) {
      let off = 0;
      while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
      size += chunk.length;
    }
  } finally {
    fs.closeSync(fd);
  }
  return size;
}

/** Digest and size of a whole stream. */
export async function hashStream(source: ByteSource): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** Hashes a stream while writing it to a new `file` (one pass: the digest is of what was written). */
export async function hashToFile(
  source: ByteSource,
  file: string,
): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  const tapped = (async function* () {
    for await (const chunk of source) {
      hash.update(chunk);
      yield chunk;
    }
  })();
  const size = await writeStreamToFile(tapped, file);
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** Normalises an archive-relative name; '..' escaping the root is refused. */
function clean(rel: string, what: string): string {
  return cleanComponents(rel, what).join('/');
}

class DirectorySource implements LayoutSource {
  readonly owned = false;
  readonly description: string;
  private readonly real: string;

  constructor(private readonly dir: string) {
    this.description = `directory ${dir}`;
    this.real = fs.realpathSync(dir);
  }

  file(rel: string): string | null {
    const p = path.join(this.real, clean(rel, rel));
    let real: string;
    try {
      real = fs.realpathSync(p);
    } catch {
      return null;
    }
    // A symlink in the layout may not point outside it.
    if (real !== this.real && !real.startsWith(this.real + path.sep)) {
      throw new StrataError(`${this.description}: ${rel} points outside the layout`);
    }
    return fs.statSync(real).isFile() ? real : null;
  }
}

class StagedTar implements LayoutSource {
  readonly owned = true;
  /** Archive links: name -> the archive name they stand for. */
  readonly links = new Map<string, string>();

  constructor(
    readonly description: string,
    private readonly stage: string,
  ) {}

  private resolve(rel: string): string | null {
    let parts = clean(rel, rel).split('/');
    // Follow aliases on any prefix; a bounded number of hops stops loops.
    for (let hops = 0; hops < 40; hops++) {
      let replaced = false;
      for (let i = parts.length; i >= 1; i--) {
        const target = this.links.get(parts.slice(0, i).join('/'));
        if (target === undefined) continue;
        parts = [...target.split('/'), ...parts.slice(i)].filter(Boolean);
        replaced = true;
        break;
      }
      if (!replaced) return parts.join('/');
    }
    return null;
  }

  file(rel: string): string | null {
    const name = this.resolve(rel);
    if (name === null || name === '') return null;
    const p = path.join(this.stage, name);
    try {
      return fs.lstatSync(p).isFile() ? p : null;
    } catch {
      return null;
    }
  }
}

/** Reads a tar stream into `stage`: regular files and directories on disk, links as aliases. */
async function stageTar(source: ByteSource, stage: string, description: string): Promise<StagedTar> {
  const staged = new StagedTar(description, stage);
  let entries = 0;
  for await (const e of readTar(source)) {
    entries++;
    const name = clean(e.path, e.path);
    if (name === '') continue;
    const dest = path.join(stage, name);
    staged.links.delete(name);
    if (e.type === 'dir') {
      fs.mkdirSync(dest, { recursive: true, mode: 0o700 });
    } else if (e.type === 'file') {
      fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
      fs.rmSync(dest, { force: true, recursive: true });
      await writeStreamToFile(e.body(), dest);
    } else if (e.type === 'symlink' || e.type === 'hardlink') {
      // A symlink is relative to its directory (absolute: to the archive root); a hardlink names
      // another member. Either way it must stay inside the archive.
      const base = e.type === 'symlink' && !e.linkpath.startsWith('/') ? path.posix.dirname(name) : '';
      const target = path.posix.normalize(path.posix.join('/', base, e.linkpath)).slice(1);
      staged.links.set(name, clean(target, e.path));
    }
    // Devices, FIFOs: not part of any image layout; ignored.
  }
  if (entries === 0) throw new StrataError(`${description} is empty: no tar entries`);
  return staged;
}

/**
 * Opens what `load` was given: a directory (an OCI layout), a tar file or a tar stream, either of
 * the last two possibly gzipped. Tar content is staged under `stage`, which the caller removes.
 */
export async function openLayout(input: string | ByteSource, stage: string): Promise<LayoutSource> {
  let source: ByteSource = input as ByteSource;
  let description = 'the input';
  if (typeof input === 'string') {
    let st: fs.Stats;
    try {
      st = fs.statSync(input);
    } catch {
      throw new StrataError(`open ${input}: no such file or directory`);
    }
    if (st.isDirectory()) return new DirectorySource(input);
    source = fs.createReadStream(input, { highWaterMark: 1 << 20 });
    description = `archive ${input}`;
  }
  try {
    return await stageTar(await decompressed(source, description), stage, description);
  } catch (e) {
    // Tar and zlib errors say what is wrong but not with what: name the archive.
    if (e instanceof StrataError) throw e;
    throw new StrataError(
      `${description}: not a readable (optionally gzipped) tar archive: ${(e as Error).message}`,
    );
  }
}
