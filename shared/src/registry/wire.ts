// Plain-HTTP requests without node:http, for blob downloads: one request per connection, the
// response read from the socket straight into a buffer of ours that every read reuses (net's
// `onread`), the body handed to a synchronous sink piece by piece. Node's HTTP client copies each
// body chunk into fresh memory (llhttp), and fresh pages fault expensively on this VM: for a 100 MB
// pull that copy and its stream machinery were about 0.4 of 1.1 CPU seconds.
import net from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { reusedBuffer, type BufferSource } from './layer-thread.js';

/** A response body read piece by piece; see http.ts's ResponseBody. */
export interface Pourable {
  pour(sink: (piece: Buffer) => void): Promise<void>;
  destroy(): void;
  readonly complete: boolean;
}

export interface WireRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  timeoutMs: number;
  /**
   * The buffers the socket is read into, one taken per read and given back once its bytes have
   * been handled (a pull's shared slots, layer-thread.ts); default one reused buffer.
   */
  readInto?: BufferSource;
}

export interface WireResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: WireBody;
}

/** Reads per connection: the socket fills this buffer, a sink sees each piece before the next read. */
const READ_BUFFER = 1 << 20;
/** An error body or a body nobody pours yet is copied; more than this is not a registry's answer. */
const MAX_HELD = 16 * 1024 * 1024;
const MAX_HEAD = 64 * 1024;

const errorWithCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

/** Transfer-Encoding: chunked, decoded as it streams. */
class Dechunker {
  private left = 0;
  private state: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
  private line = '';

  /** Feeds `piece`; data goes to `out`. True when the last chunk and the trailer are through. */
  feed(piece: Buffer, out: (b: Buffer) => void): boolean {
    let i = 0;
    while (i < piece.length) {
      if (this.state === 'data') {
        const n = Math.min(this.left, piece.length - i);
        out(piece.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = 'crlf';
        continue;
      }
      const nl = piece.indexOf(0x0a, i);
      const end = nl < 0 ? piece.length : nl;
      this.line += piece.toString('latin1', i, end);
      if (this.line.length > 4096) throw errorWithCode('chunked body: line too long', 'ECONNRESET');
      i = end + (nl < 0 ? 0 : 1);
      if (nl < 0) break;
      const line = this.line.replace(/\r$/, '');
      this.line = '';
      if (this.state === 'crlf') {
        this.state = 'size';
      } else if (this.state === 'size') {
        const size = parseInt(line.split(';')[0]!.trim(), 16);
        if (!Number.isSafeInteger(size) || size < 0)
          throw errorWithCode(`chunked body: bad chunk size "${line}"`, 'ECONNRESET');
        this.left = size;
        this.state = size === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        return true;
      }
    }
    return false;
  }
}

/** The body of a WireResponse: framed by Content-Length, chunked, or the connection's end. */
export class WireBody implements Pourable {
  private sink: ((piece: Buffer) => void) | null = null;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private left: number;
  private readonly chunked: Dechunker | null;
  private finished = false;
  private failure: Error | null = null;
  private settle: { resolve: () => void; reject: (e: Error) => void } | null = null;

  constructor(
    private readonly socket: net.Socket,
    headers: IncomingHttpHeaders,
    noBody: boolean,
  ) {
    this.chunked =
      !noBody && /chunked/i.test(String(headers['transfer-encoding'] ?? '')) ? new Dechunker() : null;
    const length = Number(headers['content-length']);
    // -1: until the connection ends.
    this.left = noBody ? 0 : this.chunked ? -1 : Number.isSafeInteger(length) && length >= 0 ? length : -1;
    if (this.left === 0) this.finish();
  }

  get complete(): boolean {
    return this.finished;
  }

  /** Bytes from the socket (or what followed the head in the same read). */
  feed(piece: Buffer): void {
    if (this.finished || this.failure) return;
    try {
      if (this.chunked) {
        if (this.chunked.feed(piece, (b) => this.deliver(b))) this.finish();
      } else if (this.left < 0) {
        this.deliver(piece);
      } else {
        const n = Math.min(this.left, piece.length);
        this.left -= n;
        this.deliver(piece.subarray(0, n));
        if (this.left === 0) this.finish();
      }
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private deliver(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.sink) return this.sink(piece);
    // Nobody pours yet: keep a copy (the read buffer is reused).
    this.heldBytes += piece.length;
    if (this.heldBytes > MAX_HELD) throw new Error(`response body larger than ${MAX_HELD} bytes`);
    this.held.push(Buffer.from(piece));
  }

  /** The connection ended: the body too when it is framed by the end, else it was cut. */
  ended(): void {
    if (this.finished || this.failure) return;
    if (this.left < 0 && !this.chunked) this.finish();
    else this.fail(errorWithCode('the connection closed before the end of the response body', 'ECONNRESET'));
  }

  fail(e: Error): void {
    if (this.finished || this.failure) return;
    this.failure = e;
    this.socket.destroy();
    this.settle?.reject(e);
  }

  private finish(): void {
    this.finished = true;
    this.socket.destroy();
    this.settle?.resolve();
  }

  pour(sink: (piece: Buffer) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      try {
        for (const b of this.held) sink(b);
      } catch (e) {
        this.fail(e as Error);
        return;
      }
      this.held = [];
      this.sink = (piece) => {
        try {
          sink(piece);
        } catch (e) {
          // The sink refused the bytes (digest, size): the body ends with its error.
          this.fail(e as Error);
          throw e;
        }
      };
      if (this.failure) reject(this.failure);
      else if (this.finished) resolve();
    });
  }

  /** Small bodies (errors, discarded answers): copied, and all of it read before the first piece. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const parts: Buffer[] = [];
    let n = 0;
    await this.pour((b) => {
      n += b.length;
      if (n > MAX_HELD) throw new Error(`response body larger than ${MAX_HELD} bytes`);
      parts.push(Buffer.from(b));
    });
    yield* parts;
  }

  destroy(): void {
    if (!this.finished) this.fail(errorWithCode('response body abandoned', 'ECONNABORTED'));
  }
}

function parseHead(head: string): { status: number; headers: IncomingHttpHeaders } {
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m)
    throw errorWithCode(
      `not an HTTP/1.x response: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`,
      'EPROTO',
    );
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const had = headers[name];
    if (name === 'set-cookie') headers[name] = [...((had as string[] | undefined) ?? []), value];
    else headers[name] = had === undefined ? value : `${String(had)}, ${value}`;
  }
  return { status: Number(m[1]), headers: headers as IncomingHttpHeaders };
}

/** One request on a fresh connection (`Connection: close`); resolves once the response head is in. */
export function sendWire(req: WireRequest): Promise<WireResponse> {
  if (req.url.protocol !== 'http:') throw new Error(`sendWire: plain HTTP only, not ${req.url.protocol}`);
  const target = `${req.url.pathname}${req.url.search}`;
  const head = [`${req.method} ${target} HTTP/1.1`, `Host: ${req.url.host}`, 'Connection: close'];
  for (const [k, v] of Object.entries(req.headers)) head.push(`${k}: ${v}`);
  const requestHead = `${head.join('\r\n')}\r\n\r\n`;
  const noBody = req.method === 'HEAD';

  return new Promise<WireResponse>((resolve, reject) => {
    let headBytes: Buffer | null = Buffer.alloc(0);
    let body: WireBody | null = null;
    const fail = (e: Error): void => {
      if (body) body.fail(e);
      else {
        headBytes = null;
        reject(e);
      }
      socket.destroy();
    };
    const onData = (piece: Buffer): void => {
      if (body) return body.feed(piece);
      if (headBytes === null) return;
      headBytes = Buffer.concat([headBytes, piece]);
      const end = headBytes.indexOf('\r\n\r\n');
      if (end < 0) {
        if (headBytes.length > MAX_HEAD) fail(errorWithCode('response head too large', 'EPROTO'));
        return;
      }
      let parsed;
      try {
        parsed = parseHead(headBytes.toString('latin1', 0, end));
      } catch (e) {
        return fail(e as Error);
      }
      const rest = headBytes.subarray(end + 4);
      headBytes = null;
      const status = parsed.status;
      body = new WireBody(socket, parsed.headers, noBody || status === 204 || status === 304);
      resolve({ status, headers: parsed.headers, body });
      if (rest.length > 0) body.feed(rest);
    };
    const buffers = req.readInto ?? reusedBuffer(READ_BUFFER);
    // The buffer of the next read: taken before it, given back once its bytes were handled (or
    // when the connection closes with a read still waiting).
    let reading: Buffer | null = null;
    const socket = net.connect({
      host: req.url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(req.url.port || 80),
      onread: {
        buffer: () => (reading = buffers.take()),
        callback: (n: number, buf: Uint8Array): boolean => {
          try {
            onData(Buffer.from(buf.buffer, buf.byteOffset, n));
          } finally {
            if (reading !== null) buffers.give(reading);
            reading = null;
          }
          return true;
        },
      },
    });
    socket.once('close', () => {
      if (reading !== null) buffers.give(reading);
      reading = null;
    });
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(requestHead));
    socket.setTimeout(req.timeoutMs, () =>
      fail(errorWithCode(`${req.method} ${req.url.href}: timed out`, 'ETIMEDOUT')),
    );
    socket.on('error', (e) => fail(e));
    socket.on('end', () =>
      body ? body.ended() : fail(errorWithCode('the connection closed before a response', 'ECONNRESET')),
    );
    socket.on('close', () => {
      if (body) body.ended();
      else if (headBytes !== null)
        fail(errorWithCode('the connection closed before a response', 'ECONNRESET'));
    });
  });
}
