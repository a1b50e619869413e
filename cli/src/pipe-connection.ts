// The thin client's connection to the native daemon: bytes both ways over a unix socket, nothing
// else. node:net's first Socket costs a start 7 ms of CPU here (it loads and compiles the streams
// machinery; hyperfine: `node -e 0` 44 ms, `new net.Socket()` 51.5, a client that connects, writes
// and reads on libuv's pipe handle 45.9), so the client drives the pipe handle that net.Socket
// wraps (process.binding('pipe_wrap'), on Node's allowlist of bindings). Anything unexpected about
// that binding, or Node asked to warn of pending deprecations (process.binding is one), and it is
// node:net as before. Closes are reported asynchronously, as net's are.

export interface ByteConnection {
  write(text: string): void;
  /** Chunks as they arrive; `onClose` once the peer closed or the connection failed. */
  onData(cb: (chunk: Buffer) => void): void;
  onClose(cb: () => void): void;
  destroy(): void;
  readonly destroyed: boolean;
}

export type Transport = 'pipe-handle' | 'net';

/** Connects to the unix socket `path`; rejects with an errno-style error (ENOENT, ECONNREFUSED). */
export function connectBytes(
  path: string,
  transport: Transport = preferredTransport(),
): Promise<ByteConnection> {
  const raw = transport === 'pipe-handle' ? pipeBindings() : null;
  return raw ? connectPipe(raw, path) : connectNet(path);
}

/** The pipe handle where it is usable without a warning; node:net otherwise. */
export function preferredTransport(): Transport {
  return pipeBindings() ? 'pipe-handle' : 'net';
}

// The slice of Node's internal bindings used here, checked at run time before use.
interface PipeHandle {
  connect(req: object, path: string): number;
  readStart(): number;
  writeUtf8String(req: object, text: string): number;
  close(cb?: () => void): void;
  onread: (ab: ArrayBuffer | undefined) => void; // the binding accepts only a function
}
interface PipeBindings {
  newPipe(): PipeHandle;
  newConnectReq(): { oncomplete: ((status: number) => void) | null };
  newWriteReq(): { oncomplete: (() => void) | null; handle: PipeHandle | null };
  state: Int32Array;
  kReadBytes: number;
  kOffset: number;
  kWriteAsync: number;
}

let cached: PipeBindings | null | undefined;

function pendingDeprecation(): boolean {
  const flag = '--pending-deprecation';
  return (
    process.env.NODE_PENDING_DEPRECATION === '1' ||
    process.execArgv.includes(flag) ||
    (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(flag)
  );
}

function pipeBindings(): PipeBindings | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (pendingDeprecation()) return null;
  try {
    type Ctor = new (...args: unknown[]) => object;
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const pw = binding('pipe_wrap');
    const sw = binding('stream_wrap');
    const Pipe = pw.Pipe as Ctor;
    const ConnectReq = pw.PipeConnectWrap as Ctor;
    const WriteReq = sw.WriteWrap as Ctor;
    const socketKind = (pw.constants as Record<string, number>).SOCKET;
    const state = sw.streamBaseState;
    const keys = [sw.kReadBytesOrError, sw.kArrayBufferOffset, sw.kLastWriteWasAsync];
    const shapes = [Pipe, ConnectReq, WriteReq].every((c) => typeof c === 'function');
    if (!shapes || typeof socketKind !== 'number' || !(state instanceof Int32Array)) return null;
    if (!keys.every((k) => typeof k === 'number')) return null;
    cached = {
      newPipe: () => new Pipe(socketKind) as PipeHandle,
      newConnectReq: () => new ConnectReq() as ReturnType<PipeBindings['newConnectReq']>,
      newWriteReq: () => new WriteReq() as ReturnType<PipeBindings['newWriteReq']>,
      state,
      kReadBytes: keys[0] as number,
      kOffset: keys[1] as number,
      kWriteAsync: keys[2] as number,
    };
  } catch {
    cached = null;
  }
  return cached;
}

/** libuv's error numbers are negated errnos; the codes callers test are named. */
function connectError(status: number): NodeJS.ErrnoException {
  const codes: Record<number, string> = { [-2]: 'ENOENT', [-111]: 'ECONNREFUSED', [-13]: 'EACCES' };
  const e: NodeJS.ErrnoException = new Error(`connect: ${codes[status] ?? `error ${status}`}`);
  e.code = codes[status] ?? 'ECONNECT';
  e.errno = status;
  return e;
}

function connectPipe(b: PipeBindings, path: string): Promise<ByteConnection> {
  return new Promise((resolve, reject) => {
    const handle = b.newPipe();
    const req = b.newConnectReq();
    let destroyed = false;
    let closed = false;
    let dataCb: (chunk: Buffer) => void = () => undefined;
    let closeCb: () => void = () => undefined;
    const inFlight = new Set<object>(); // async writes, kept alive until libuv is done with them
    const destroy = (): void => {
      if (destroyed) return;
      destroyed = true;
      handle.onread = () => undefined;
      handle.close();
    };
    const peerClosed = (): void => {
      if (closed) return;
      closed = true;
      destroy();
      setImmediate(() => closeCb()); // never from inside write(), nor before onClose is set
    };
    const conn: ByteConnection = {
      write(text) {
        if (destroyed) return;
        const w = b.newWriteReq();
        w.handle = handle;
        w.oncomplete = () => inFlight.delete(w);
        if (handle.writeUtf8String(w, text) < 0) return peerClosed();
        if (b.state[b.kWriteAsync]) inFlight.add(w);
      },
      onData: (cb) => void (dataCb = cb),
      onClose: (cb) => void (closeCb = cb),
      destroy,
      get destroyed() {
        return destroyed;
      },
    };
    req.oncomplete = (status) => {
      if (status < 0) {
        destroy();
        return reject(connectError(status));
      }
      handle.onread = (ab) => {
        const n = b.state[b.kReadBytes]!;
        if (n > 0 && ab) dataCb(Buffer.from(ab, b.state[b.kOffset]!, n));
        else if (n < 0) peerClosed(); // EOF or a read error
      };
      if (handle.readStart() < 0) peerClosed();
      resolve(conn);
    };
    const err = handle.connect(req, path);
    if (err < 0) {
      destroy();
      reject(connectError(err));
    }
  });
}

/** node:net's socket (unix-connect.ts), as a ByteConnection. */
async function connectNet(path: string): Promise<ByteConnection> {
  // Imported only here: node:net brings the streams machinery.
  const { connect } = await import('./unix-connect.js');
  const s = await connect(path);
  s.on('error', () => undefined); // 'close' follows
  return {
    write: (text) => void (s.destroyed || s.write(text)),
    onData: (cb) => void s.on('data', cb),
    onClose: (cb) => void s.on('close', cb),
    destroy: () => void s.destroy(),
    get destroyed() {
      return s.destroyed;
    },
  };
}
