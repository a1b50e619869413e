// The CPU half of a layer pull: compressed bytes in, in order; gunzipped, hashed (the diff ID) and
// written to one file, the uncompressed layer the blob store keeps. All of it synchronous, on the
// caller's piece of the download before the next one is read: one output buffer reused throughout
// (gunzip-sync.ts), no queue, no thread-pool round trips.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { SyncGunzip } from './gunzip-sync.js';

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
  private closed = false;
  private readonly put = (b: Buffer): void => {
    this.diff.update(b);
    let off = 0;
    try {
      while (off < b.length) off += fs.writeSync(this.fd, b, off, b.length - off);
    } catch (e) {
      throw new LayerWriteError((e as Error).message, 'file');
    }
    this.size += b.length;
  };

  constructor(file: string, gzip: boolean) {
    this.fd = fs.openSync(file, 'wx', 0o644);
    this.z = gzip ? new SyncGunzip() : null;
  }

  /**
   * A file error throws at once; after corrupt gzip data the rest is ignored and end() reports it,
   * so that the caller still reads (and verifies) its whole source.
   */
  write(b: Buffer): void {
    if (this.z === null) this.put(b);
    else this.z.write(b, this.put);
  }

  end(): WrittenLayer {
    try {
      this.z?.finish(this.put);
      if (this.z?.error) throw new LayerWriteError(this.z.error.message, 'gzip');
      return { diffId: `sha256:${this.diff.digest('hex')}`, size: this.size };
    } finally {
      this.close();
    }
  }

  /** Idempotent (end closes, the caller's cleanup may close again): the fd is closed once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.z?.close();
    fs.closeSync(this.fd);
  }
}
