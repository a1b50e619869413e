// The content store: blobs named by their sha256, written atomically, verified on every read.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { type Digest, DigestMismatchError, hexOf, sha256 } from './digest.js';
import { NotFoundError } from '../errors.js';
import { atomicWrite } from './fsutil.js';
import type { StoreLayout } from './layout.js';

export class BlobStore {
  constructor(private readonly layout: StoreLayout) {}

  path(digest: string): string {
    return path.join(this.layout.blobs, hexOf(digest));
  }

  has(digest: string): boolean {
    return fs.existsSync(this.path(digest));
  }

  put(data: string | Uint8Array): Digest {
    const digest = sha256(data);
    if (!this.has(digest)) atomicWrite(this.path(digest), data);
    return digest;
  }

  /** Move a file whose digest the caller computed while writing it into the store. */
  adopt(file: string, digest: Digest): void {
    if (this.has(digest)) fs.rmSync(file, { force: true });
    else fs.renameSync(file, this.path(digest));
  }

  read(digest: string): Buffer {
    let data: Buffer;
    try {
      data = fs.readFileSync(this.path(digest));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new NotFoundError(`blob ${digest} not found in the store`);
      throw e;
    }
    const actual = sha256(data);
    if (actual !== digest) throw new DigestMismatchError(`blob ${this.path(digest)}`, digest, actual);
    return data;
  }

  /**
   * Stream a blob; the digest is checked when the stream ends and a mismatch fails the stream.
   * With `take`, each piece is read into the buffer it returns (a caller that reuses its buffers
   * avoids fresh memory, hence page faults, per MiB); the piece is a view of that buffer.
   */
  async *stream(digest: string, take?: () => Buffer): AsyncGenerator<Uint8Array> {
    if (take) {
      yield* this.streamInto(digest, take);
      return;
    }
    const hash = createHash('sha256');
    let input: fs.ReadStream;
    try {
      input = fs.createReadStream(this.path(digest), { highWaterMark: 1 << 20 });
    } catch (e) {
      throw new NotFoundError(`blob ${digest} not found in the store: ${(e as Error).message}`);
    }
    for await (const chunk of input) {
      hash.update(chunk as Buffer);
      yield chunk as Buffer;
    }
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== digest) throw new DigestMismatchError(`blob ${this.path(digest)}`, digest, actual);
  }

  private async *streamInto(digest: string, take: () => Buffer): AsyncGenerator<Uint8Array> {
    const hash = createHash('sha256');
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(this.path(digest), 'r');
    } catch (e) {
      throw new NotFoundError(`blob ${digest} not found in the store: ${(e as Error).message}`);
    }
    try {
      for (;;) {
        const buf = take();
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        const piece = buf.subarray(0, bytesRead);
        hash.update(piece);
        yield piece;
      }
    } finally {
      await fh.close();
    }
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== digest) throw new DigestMismatchError(`blob ${this.path(digest)}`, digest, actual);
  }

  size(digest: string): number {
    return fs.statSync(this.path(digest)).size;
  }

  remove(digest: string): void {
    fs.rmSync(this.path(digest), { force: true });
  }
}
