// The CPU half of a layer pull: compressed bytes in, in order; gunzipped, hashed (the diff ID) and
// written to one file, the uncompressed layer the blob store keeps. All of it synchronous, on the
// caller's piece of the download before the next one is read: one output buffer reused throughout
// (gunzip-sync.ts), no queue, no thread-pool round trips. With a LayerThread (layer-thread.ts) the
// gunzip writes into its shared slots instead, and the diff-ID hash and the writes happen on that
// thread, in order, while this one goes on with the next piece.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { SyncGunzip } from './gunzip-sync.js';
import type { LayerSink, LayerThread } from './layer-thread.js';

export interface WrittenLayer {
  /** sha256 of the uncompressed bytes written ("sha256:..."). */
  diffId: string;
  size: number;
}

/** What went wrong: corrupt gzip data (reported after the blob digest is known) or the file. */
export class LayerWriteError extends Error {
  constructor(
    message: string,
    readonly kind: 'gzip' | 'file',
  ) {
    super(message);
  }
}

export class LayerWriter {
  private readonly fd: number;
  private readonly diff = createHash('sha256');
  private size = 0;
  private readonly z: SyncGunzip | null;
  private readonly thread: LayerSink | null;
  private closed = false;
  private readonly put = (b: Buffer): void => {
    if (this.thread) {
      this.thread.write(b);
      this.size += b.length;
      return;
    }
    this.diff.update(b);
    let off = 0;
    try {
      while (off < b.length) off += fs.writeSync(this.fd, b, off, b.length - off);
    } catch (e) {
      throw new LayerWriteError((e as Error).message, 'file');
    }
    this.size += b.length;
  };

  constructor(file: string, gzip: boolean, thread?: LayerThread) {
    this.fd = fs.openSync(file, 'wx', 0o644);
    try {
      this.thread = thread?.sink(this.fd) ?? null;
    } catch (e) {
      fs.closeSync(this.fd);
      throw e;
    }
    this.z = gzip ? new SyncGunzip(thread) : null;
  }

  /**
   * A file error throws at once; after corrupt gzip data the rest is ignored and end() reports it,
   * so that the caller still reads (and verifies) its whole source.
   */
  write(b: Buffer): void {
    if (this.z === null) this.put(b);
    else this.z.write(b, this.put);
  }

  async end(): Promise<WrittenLayer> {
    try {
      this.z?.finish(this.put);
      if (this.z?.error) throw new LayerWriteError(this.z.error.message, 'gzip');
      if (this.thread === null) return { diffId: `sha256:${this.diff.digest('hex')}`, size: this.size };
      const { hex, error } = await this.thread.end();
      if (error !== null) throw new LayerWriteError(error, 'file');
      return { diffId: `sha256:${hex}`, size: this.size };
    } finally {
      await this.close();
    }
  }

  /**
   * Idempotent (end closes, the caller's cleanup may close again): the fd is closed once, and only
   * once the layer thread has written what it was given (it writes to this fd until then).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.z?.close();
    try {
      await this.thread?.end();
    } catch {
      // The thread failed or was closed: it writes no more.
    } finally {
      fs.closeSync(this.fd);
    }
  }
}
