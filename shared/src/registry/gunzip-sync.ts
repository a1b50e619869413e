// gunzip as a stream, synchronously, into one output buffer that every call reuses. node:zlib's
// streams run each piece through the thread pool and allocate a fresh output buffer for each one
// (fresh pages fault expensively on this VM); its sync functions take a whole buffer only. This
// drives the zlib handle under a Gunzip stream the way node's own sync functions do
// (`handle.writeSync`, `_writeState`, both unchanged since Node 10): a 100 MB layer pull spent
// 0.3 CPU s less than through the stream. It fails loudly if a Node release drops them.
import zlib from 'node:zlib';
import { reusedBuffer, type BufferSource } from './layer-thread.js';

/** The native handle of a node:zlib stream (lib/zlib.js). */
interface ZlibHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  onerror: (message: string, errno: number, code?: string) => void;
  close(): void;
}

const OUT = 256 * 1024;

export class SyncGunzip {
  private readonly stream: zlib.Gunzip;
  private readonly handle: ZlibHandle;
  /** [avail_out, avail_in] after each writeSync, filled by the handle. */
  private readonly state: Uint32Array;
  private failure: Error | null = null;
  /** The last member ended and zlib took no more input (trailing bytes are ignored, as node does). */
  private done = false;

  /**
   * `outputs`: where each piece of output is written (a pull's shared slots, which the layer
   * thread hashes and writes to the file); by default one buffer reused throughout.
   */
  constructor(private readonly outputs: BufferSource = reusedBuffer(OUT)) {
    this.stream = zlib.createGunzip();
    const internals = this.stream as unknown as { _handle?: ZlibHandle; _writeState?: Uint32Array };
    if (typeof internals._handle?.writeSync !== 'function' || !(internals._writeState instanceof Uint32Array))
      throw new Error(`node ${process.version}: the zlib handle this gunzip drives is not there`);
    this.handle = internals._handle;
    this.state = internals._writeState;
    // zlib reports corrupt data through this callback, synchronously, during writeSync.
    this.handle.onerror = (message) => {
      this.failure ??= new Error(message);
    };
  }

  /** The first error zlib reported (corrupt data, a truncated stream at finish), if any. */
  get error(): Error | null {
    return this.failure;
  }

  /** Decompresses `input`; each output piece goes to `emit`, valid only during the call. */
  write(input: Uint8Array, emit: (out: Buffer) => void): void {
    this.run(input, zlib.constants.Z_NO_FLUSH, emit);
  }

  /** The end of the input: the rest of the output; a stream cut short is an error ("unexpected end of file"). */
  finish(emit: (out: Buffer) => void): void {
    if (!this.done) this.run(Buffer.alloc(0), zlib.constants.Z_FINISH, emit);
  }

  private run(input: Uint8Array, flush: number, emit: (out: Buffer) => void): void {
    let off = 0;
    let left = input.length;
    while (this.failure === null && !this.done) {
      const out = this.outputs.take();
      let availOut: number;
      let availIn: number;
      try {
        this.handle.writeSync(flush, input, off, left, out, 0, out.length);
        if (this.failure !== null) return;
        availOut = this.state[0]!;
        availIn = this.state[1]!;
        const produced = out.length - availOut;
        if (produced > 0) emit(out.subarray(0, produced));
      } finally {
        this.outputs.give(out);
      }
      const consumed = left - availIn;
      off += consumed;
      left = availIn;
      // Output space left over: zlib wanted no more than it had. Input left over then means the
      // stream ended before it (zlib goes on to a next gzip member by itself).
      if (availOut > 0) {
        if (left > 0 || flush === zlib.constants.Z_FINISH) this.done = true;
        return;
      }
    }
  }

  close(): void {
    this.stream.close();
  }
}
