// One HTTP exchange with a registry (node:http/https, keep-alive), plus what decides a retry:
// transient failures (5xx, 429, connection resets and timeouts) are retried with exponential
// backoff; anything else (4xx, digest mismatches) is final.
import type http from 'node:http';
import type https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { StrataError } from '../errors.js';
import { sendWire } from './wire.js';
import type { BufferSource } from './layer-thread.js';

// Loaded on first use: a pull from a plain-HTTP registry never needs them (its GETs go over
// wire.ts), and node:https brings node:tls, milliseconds of a pull's start-up.
let clients: {
  http: typeof http;
  https: typeof https;
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
} | null = null;
async function nodeClients(): Promise<NonNullable<typeof clients>> {
  if (clients) return clients;
  const [{ default: h }, { default: hs }] = await Promise.all([import('node:http'), import('node:https')]);
  // A few sockets per host: 3 layers move at once, plus manifests and HEADs.
  clients ??= {
    http: h,
    https: hs,
    httpAgent: new h.Agent({ keepAlive: true, maxSockets: 8 }),
    httpsAgent: new hs.Agent({ keepAlive: true, maxSockets: 8 }),
  };
  return clients;
}

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: Buffer | Buffer[] | null;
  /** Idle socket timeout: a stalled server fails the attempt instead of hanging the pull. */
  timeoutMs?: number;
  /**
   * A body read whole or with `pour` (manifests, blob downloads): over plain HTTP the request then
   * goes on a connection of its own, read without node:http's copies (wire.ts).
   */
  bulk?: boolean;
  /** With `bulk` over plain HTTP: the buffers the socket is read into (default one of its own). */
  readInto?: BufferSource;
}

/** A response body: iterated (small bodies) or poured into a synchronous sink (blobs). */
export interface ResponseBody extends AsyncIterable<Buffer> {
  /**
   * Hands the body to `sink` piece by piece, in order, and resolves at its end. A piece is valid
   * only during the call (its memory may be reused); a sink that throws ends the body with that error.
   */
  pour(sink: (piece: Buffer) => void): Promise<void>;
  /** Drops the connection: a body not wanted any further. */
  destroy(): void;
  /** True once the whole body has been received. */
  readonly complete: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
}

/** node:http's IncomingMessage as a ResponseBody. */
class NodeBody implements ResponseBody {
  constructor(private readonly msg: IncomingMessage) {}

  get complete(): boolean {
    return this.msg.readableEnded;
  }

  async pour(sink: (piece: Buffer) => void): Promise<void> {
    for await (const c of this.msg) sink(c as Buffer);
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.msg[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  destroy(): void {
    this.msg.destroy();
  }
}

/** A failure worth another attempt (the connection broke, the server said so with a 5xx). */
export class TransientError extends StrataError {}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

export function isTransient(e: unknown): boolean {
  if (e instanceof TransientError) return true;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code !== undefined && TRANSIENT_CODES.has(code);
}

export function isTransientStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

export async function send(req: HttpRequest): Promise<HttpResponse> {
  const headers: Record<string, string> = { 'User-Agent': 'strata/0.1', ...req.headers };
  if (req.bulk && req.url.protocol === 'http:' && !req.body)
    return sendWire({
      method: req.method,
      url: req.url,
      headers,
      timeoutMs: req.timeoutMs ?? 30_000,
      readInto: req.readInto,
    });
  const parts = req.body === undefined || req.body === null ? [] : [req.body].flat();
  if (req.body) headers['Content-Length'] = String(parts.reduce((n, p) => n + p.length, 0));
  else if (['PUT', 'POST', 'PATCH'].includes(req.method)) headers['Content-Length'] = '0';
  const node = await nodeClients();
  const [lib, agent] =
    req.url.protocol === 'https:' ? [node.https, node.httpsAgent] : [node.http, node.httpAgent];
  return new Promise((resolve, reject) => {
    const r = lib.request(req.url, { method: req.method, headers, agent }, (res) =>
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: new NodeBody(res) }),
    );
    r.setTimeout(req.timeoutMs ?? 30_000, () =>
      r.destroy(Object.assign(new Error(`${req.method} ${req.url.href}: timed out`), { code: 'ETIMEDOUT' })),
    );
    r.on('error', reject);
    for (const p of parts) r.write(p);
    r.end();
  });
}

/** Reads a (small) response body whole; refuses more than `limit` bytes. */
export async function readBody(res: HttpResponse, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += c.length;
    if (n > limit) {
      res.body.destroy();
      throw new StrataError(`response larger than ${limit} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Drains a response we do not need, so its socket goes back to the pool. */
export async function discard(res: HttpResponse): Promise<void> {
  try {
    for await (const c of res.body) void c;
  } catch {
    // A body we did not want breaking off is no failure of ours.
  }
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  /** Told before each new attempt (a log line, a progress reset). */
  onRetry?: (attempt: number, error: unknown) => void;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: Number(process.env.STRATA_REGISTRY_ATTEMPTS ?? 5),
  baseDelayMs: Number(process.env.STRATA_REGISTRY_BACKOFF_MS ?? 250),
};

/** Runs `fn` until it succeeds, a non-transient error occurs, or the attempts are spent. */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!isTransient(e) || attempt >= policy.attempts) throw e;
      policy.onRetry?.(attempt, e);
      await backoff(attempt, policy);
    }
  }
}

/** Waits before attempt `attempt + 1`: exponential with jitter, capped, so a restarting registry gets time. */
export function backoff(attempt: number, policy: RetryPolicy = DEFAULT_RETRY): Promise<void> {
  const delay = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), 8_000) * (0.5 + Math.random() / 2);
  return new Promise((r) => setTimeout(r, delay));
}
