// The CPU half of a layer pull: compressed bytes in, in order; gunzipped (zlib, in the thread
// pool), hashed (the diff ID) and written to one file, the uncompressed layer the blob store keeps.
import fs from 'node:fs';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';

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

const PIECE = 1 << 20;

export class LayerWriter {
  private readonly fd: number;
  private readonly diff = createHash('sha256');
  private size = 0;
  private readonly z: ReturnType<typeof createGunzip> | null;
  private gzipError: Error | null = null;
  private fileError: Error | null = null;
  private readonly finished: Promise<void>;
  private closed = false;
  /** Network chunks gathered into one zlib piece. */
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(file: string, gzip: boolean) {
    this.fd = fs.openSync(file, 'wx', 0o644);
    if (!gzip) {
      this.z = null;
      this.finished = Promise.resolve();
      return;
    }
    // Each piece zlib gets, and each output buffer it fills, is one round trip to the thread pool:
    // 1 MiB pieces and outputs, and up to 4 MiB queued before the download waits, keep the
    // round trips few and the download from waiting on each one (64 KiB network chunks, a
    // 16 KiB queue and 256 KiB outputs spent about a second of a 100 MB pull waiting).
    // (highWaterMark goes through to the Transform stream; @types/node leaves it out of ZlibOptions.)
    const options = { chunkSize: PIECE, highWaterMark: 4 * PIECE };
    const z = createGunzip(options);
    this.z = z;
    z.on('data', (b: Buffer) => this.put(b));
    this.finished = new Promise((resolve) => {
      z.on('end', resolve);
      z.on('close', resolve);
      z.on('error', (e) => {
        this.gzipError ??= e;
        resolve();
      });
    });
  }

  private put(b: Buffer): void {
    if (this.fileError) return;
    try {
      this.diff.update(b);
      let off = 0;
      while (off < b.length) off += fs.writeSync(this.fd, b, off, b.length - off);
      this.size += b.length;
    } catch (e) {
      this.fileError = e as Error;
      this.z?.destroy();
    }
  }

  private get stopped(): boolean {
    return this.gzipError !== null || this.fileError !== null;
  }

  /** A file error fails at once; a gzip error only at end(): the caller still drains and verifies its source. */
  async write(b: Uint8Array): Promise<void> {
    if (this.fileError) throw new LayerWriteError(this.fileError.message, 'file');
    if (this.stopped) return;
    const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    if (this.z === null) return this.put(buf);
    this.held.push(buf);
    this.heldBytes += buf.length;
    if (this.heldBytes >= PIECE) await this.flushHeld();
  }

  private async flushHeld(): Promise<void> {
    if (this.z === null || this.heldBytes === 0) return;
    const piece = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes);
    this.held = [];
    this.heldBytes = 0;
    // Backpressure: the source waits while zlib has a few pieces queued.
    // (A destroyed stream never drains: `finished` settles then.)
    if (!this.z.write(piece))
      await Promise.race([once(this.z, 'drain').catch(() => undefined), this.finished]);
  }

  async end(): Promise<WrittenLayer> {
    try {
      if (!this.stopped) await this.flushHeld();
      if (!this.stopped) this.z?.end();
      await this.finished;
      if (this.fileError) throw new LayerWriteError(this.fileError.message, 'file');
      if (this.gzipError) throw new LayerWriteError(this.gzipError.message, 'gzip');
      return { diffId: `sha256:${this.diff.digest('hex')}`, size: this.size };
    } finally {
      this.close();
    }
  }

  /** Idempotent (end closes, the caller's cleanup may close again): the fd is closed once. */
  close(): void {
    this.z?.destroy();
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}
