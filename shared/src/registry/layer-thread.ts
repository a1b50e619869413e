// The second half of a pull's layer work on a second thread, fed through shared memory. A pull's
// main thread read every byte from the socket, hashed it (the blob digest), gunzipped it, hashed
// the output (the diff ID) and wrote it: one core busy, the other idle. Now the gunzip writes its
// output into slots of one SharedArrayBuffer and queues "these bytes of that slot belong to layer
// file N"; a worker hashes them (the diff ID) and writes them to the file, while the main thread
// reads, hashes and gunzips the next piece. The split evens the two threads out (per 100 MB of
// stored-block layers: read, blob hash, gunzip about 120 ms; diff hash and write about 115).
//
// A slot is reused only once the worker is done with it (a count per slot). Nothing is copied or
// transferred per piece, no fresh memory is touched per piece (fresh pages fault expensively on
// this VM), and the worker loads node:crypto and node:fs only, not the bundle. Tried and dropped
// before (layer-fetch.ts): a worker fed with transferred 1 MiB buffers, whose fresh memory and
// page faults cost more CPU than the work moved; and, in this round, both hashes on the worker:
// the worker became the bottleneck and the main thread waited for slots.
import { Worker } from 'node:worker_threads';

/** Where bytes are written before they are handled: a buffer taken, filled, then given back. */
export interface BufferSource {
  take(): Buffer;
  give(b: Buffer): void;
}

/** One buffer reused for everything: the single-threaded default. */
export function reusedBuffer(size: number): BufferSource {
  const b = Buffer.allocUnsafe(size);
  return { take: () => b, give: () => undefined };
}

/** A layer file fed in order; `end` resolves once every byte is hashed and written. */
export interface LayerSink {
  /** `b` may be reused by the caller once this returns. */
  write(b: Buffer): void;
  /** The sha256 (hex) of the bytes written, and the first write error if any. */
  end(): Promise<{ hex: string; error: string | null }>;
}

// 256 KiB: the gunzip's output buffer was this size, and a loopback read rarely returns more.
const SLOT = 256 * 1024;
const SLOTS = 48;
const QUEUE = 4096;
// Control words: the queue's tail (main writes it) and head (the worker), a counter the worker
// bumps after each entry (the main thread waits on it for a free slot), the worker's failure flag,
// and whether the worker sleeps (waiting for the tail to move).
const TAIL = 0;
const HEAD = 1;
const DONE = 2;
const BROKEN = 3;
const SLEEPING = 4;
const ENTRIES = 8;
/** Entries queued before the worker is woken without waiting for the end of the event-loop turn. */
const WAKE_BATCH = 8;
const OP_OPEN = 1;
const OP_WRITE = 2;
const OP_END = 3;
/** How long the main thread waits for a free slot before it calls the worker stuck. */
const STALL_MS = 30_000;

// Plain CommonJS for `eval`. It blocks in Atomics.wait while the queue is empty, so it never
// needs its event loop; each layer's end goes out by postMessage.
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { writeSync } = require('node:fs');
const { data, control, refs: refsBuffer, slot, queue } = workerData;
const bytes = Buffer.from(data);
const ctl = new Int32Array(control);
const refs = new Int32Array(refsBuffer);
const files = new Map();
let head = 0;
try {
  for (;;) {
    const tail = Atomics.load(ctl, ${TAIL});
    if (head === tail) {
      // Said before looking again: either this sees the main thread's next entry, or the main
      // thread sees this flag and wakes it (both sides store, then load, sequentially consistent).
      Atomics.store(ctl, ${SLEEPING}, 1);
      if (Atomics.load(ctl, ${TAIL}) === tail) Atomics.wait(ctl, ${TAIL}, tail);
      Atomics.store(ctl, ${SLEEPING}, 0);
      continue;
    }
    const e = ${ENTRIES} + (head % queue) * 4;
    const op = ctl[e], id = ctl[e + 1], a = ctl[e + 2], n = ctl[e + 3];
    if (op === ${OP_OPEN}) {
      files.set(id, { fd: a, hash: createHash('sha256'), error: null });
    } else if (op === ${OP_WRITE}) {
      const f = files.get(id);
      const b = bytes.subarray(a, a + n);
      f.hash.update(b);
      if (f.error === null) {
        try {
          for (let off = 0; off < n; ) off += writeSync(f.fd, b, off, n - off);
        } catch (err) {
          f.error = err.message;
        }
      }
      Atomics.sub(refs, Math.floor(a / slot), 1);
    } else if (op === ${OP_END}) {
      const f = files.get(id);
      files.delete(id);
      parentPort.postMessage([id, f.hash.digest('hex'), f.error]);
    }
    head++;
    Atomics.store(ctl, ${HEAD}, head);
    Atomics.add(ctl, ${DONE}, 1);
    Atomics.notify(ctl, ${DONE});
  }
} catch (e) {
  Atomics.store(ctl, ${BROKEN}, 1);
  Atomics.notify(ctl, ${DONE});
  throw e;
}
`;

type Ended = { hex: string; error: string | null };

/**
 * The shared slots and the worker of one pull. `take` gives a free slot (waiting for the worker
 * when all are busy), `sink(fd)` a layer file whose bytes the worker hashes and writes. Close it
 * when done: the worker is a thread of this process.
 */
export class LayerThread implements BufferSource {
  private readonly data = new SharedArrayBuffer(SLOT * SLOTS);
  private readonly bytes = Buffer.from(this.data);
  private readonly ctl = new Int32Array(new SharedArrayBuffer((ENTRIES + QUEUE * 4) * 4));
  /** Per slot: its holders (the main thread while it fills it, plus one per queued write). */
  private readonly refs = new Int32Array(new SharedArrayBuffer(SLOTS * 4));
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(r: Ended): void; reject(e: Error): void }>();
  private failure: Error | null = null;
  private nextId = 1;
  private tail = 0;
  /** The tail the worker was last told about, and whether a wake is due at the end of this turn. */
  private told = 0;
  private wakeScheduled = false;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Not this process's flags: --input-type=module would make the source an ES module.
      execArgv: [],
      workerData: {
        data: this.data,
        control: this.ctl.buffer,
        refs: this.refs.buffer,
        slot: SLOT,
        queue: QUEUE,
      },
    });
    this.worker.on('message', ([id, hex, error]: [number, string, string | null]) => {
      const p = this.pending.get(id);
      this.pending.delete(id);
      if (this.pending.size === 0) this.worker.unref();
      p?.resolve({ hex, error });
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', () => this.fail(new Error('the layer writing thread exited')));
    // Only an awaited end keeps the process alive for the worker (see sink().end).
    this.worker.unref();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  private dead(): Error | null {
    if (this.failure === null && Atomics.load(this.ctl, BROKEN) === 1)
      this.failure = new Error('the layer writing thread failed');
    return this.failure;
  }

  /**
   * Tells a sleeping worker about new entries. A wake is a futex call and, on this VM, an
   * interrupt to the other core: tens of microseconds each, 0.1 s per pull when it followed every
   * entry. So the worker is woken once per event-loop turn (the reads that were ready), or after
   * WAKE_BATCH entries, or before this thread waits for it, and only when it sleeps.
   */
  private wake(): void {
    this.told = this.tail;
    if (Atomics.load(this.ctl, SLEEPING) === 1) Atomics.notify(this.ctl, TAIL);
  }

  /** Blocks this thread until the worker has done more (it frees slots on its own), or throws. */
  private waitForWorker(started: number): void {
    this.wake();
    const since = Atomics.load(this.ctl, DONE);
    if (this.dead()) throw this.failure!;
    if (Date.now() - started > STALL_MS) {
      this.fail(new Error(`the layer writing thread did nothing for ${STALL_MS / 1000} s`));
      throw this.failure!;
    }
    Atomics.wait(this.ctl, DONE, since, 100);
  }

  /**
   * A free slot, held by the caller until `give`. Once the worker has failed, a private buffer
   * instead (this runs in a socket's read loop, where it must not throw); the writes then fail.
   */
  take(): Buffer {
    const started = Date.now();
    for (;;) {
      for (let i = 0; i < SLOTS; i++)
        if (Atomics.compareExchange(this.refs, i, 0, 1) === 0)
          return this.bytes.subarray(i * SLOT, (i + 1) * SLOT);
      try {
        this.waitForWorker(started);
      } catch {
        return Buffer.allocUnsafe(SLOT);
      }
    }
  }

  /** Slots nobody holds (no reader, no write queued): all of them once a pull is through. */
  get freeSlots(): number {
    let n = 0;
    for (let i = 0; i < SLOTS; i++) if (Atomics.load(this.refs, i) === 0) n++;
    return n;
  }

  give(b: Buffer): void {
    if (b.buffer === this.data) Atomics.sub(this.refs, Math.floor(b.byteOffset / SLOT), 1);
  }

  private push(op: number, id: number, a: number, n: number): void {
    const started = Date.now();
    while (this.tail - Atomics.load(this.ctl, HEAD) >= QUEUE) this.waitForWorker(started);
    const e = ENTRIES + (this.tail % QUEUE) * 4;
    this.ctl[e] = op;
    this.ctl[e + 1] = id;
    this.ctl[e + 2] = a;
    this.ctl[e + 3] = n;
    this.tail++;
    Atomics.store(this.ctl, TAIL, this.tail);
    if (op === OP_END || this.tail - this.told >= WAKE_BATCH) this.wake();
    else if (!this.wakeScheduled) {
      this.wakeScheduled = true;
      setImmediate(() => {
        this.wakeScheduled = false;
        if (this.told !== this.tail) this.wake();
      });
    }
  }

  private write(id: number, b: Buffer): void {
    if (this.dead()) throw this.failure!;
    let off = 0;
    while (off < b.length) {
      if (b.buffer === this.data) {
        // In a slot already (the gunzip's output, a socket read): queued where it is.
        const at = b.byteOffset + off;
        const slot = Math.floor(at / SLOT);
        const end = Math.min(b.byteOffset + b.length, (slot + 1) * SLOT);
        Atomics.add(this.refs, slot, 1);
        this.push(OP_WRITE, id, at, end - at);
        off += end - at;
      } else {
        // Elsewhere (a body that arrived before it was poured, HTTPS): copied into a slot.
        const slot = this.take();
        if (slot.buffer !== this.data) throw this.dead() ?? new Error('the layer writing thread failed');
        const n = b.copy(slot, 0, off, Math.min(b.length, off + SLOT));
        this.write(id, slot.subarray(0, n));
        this.give(slot);
        off += n;
      }
    }
  }

  /**
   * The layer file open as `fd`, written by the worker. Its `end` must be awaited before `fd` is
   * closed, whatever happened: the worker may still be writing to it until then.
   */
  sink(fd: number): LayerSink {
    if (this.dead()) throw this.failure!;
    const id = this.nextId++;
    this.push(OP_OPEN, id, fd, 0);
    let ended: Promise<Ended> | null = null;
    return {
      write: (b) => this.write(id, b),
      end: () => {
        if (ended) return ended;
        if (this.dead()) return (ended = Promise.reject(this.failure!));
        ended = new Promise<Ended>((resolve, reject) => this.pending.set(id, { resolve, reject }));
        this.worker.ref();
        this.push(OP_END, id, 0, 0);
        return ended;
      },
    };
  }

  /** Ends the worker; layers not ended yet fail. */
  close(): void {
    this.fail(new Error('the layer writing thread was closed'));
    void this.worker.terminate();
  }
}
