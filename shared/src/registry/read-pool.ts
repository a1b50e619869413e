// Read buffers reused across a push's layer uploads. Fresh 1 MiB buffers per read cost a page
// fault per 4 KiB touched (about 25,000 per 100 MB, most of the CPU a push spent above skopeo's);
// a buffer goes back to the pool once every byte read into it has been sent and answered.

const READ_SIZE = 1 << 20;

/** Free buffers shared by the uploads of one push. */
export class BufferPool {
  private readonly free: Buffer[] = [];

  /** A buffer for the next read: a returned one when there is one, fresh memory otherwise. */
  get(): Buffer {
    // allocUnsafeSlow: a buffer of its own ArrayBuffer, which is how ReadTracker tells them apart.
    return this.free.pop() ?? Buffer.allocUnsafeSlow(READ_SIZE);
  }

  put(b: Buffer): void {
    this.free.push(b);
  }

  /** A tracker for one upload (one stream read in order). */
  tracker(): ReadTracker {
    return new ReadTracker(this);
  }
}

/**
 * The buffers handed to one stream, in read order. The stream's bytes go out in that order, so
 * once a piece viewing buffer i has been sent, buffers 0..i-1 have been sent whole and are free
 * (buffer i may still continue into the next request). Buffers of an upload that failed are
 * never returned: the garbage collector takes them.
 */
export class ReadTracker {
  private readonly out: Buffer[] = [];

  constructor(private readonly pool: BufferPool) {}

  readonly take = (): Buffer => {
    const b = this.pool.get();
    this.out.push(b);
    return b;
  };

  /** `pieces` (one request's body, in order) were sent and answered. */
  readonly sent = (pieces: readonly Uint8Array[]): void => {
    for (let j = pieces.length - 1; j >= 0; j--) {
      const ab = pieces[j]!.buffer;
      const i = this.out.findIndex((b) => b.buffer === ab);
      if (i < 0) continue; // a gzip block header or trailer: not a read buffer
      for (const b of this.out.splice(0, i)) this.pool.put(b);
      return;
    }
  };

  /** The upload completed: every buffer is free. */
  finished(): void {
    for (const b of this.out.splice(0)) this.pool.put(b);
  }
}
