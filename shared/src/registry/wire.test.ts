// The blob download path without node:http (wire.ts) against a node:http server on 127.0.0.1:
// every framing a response can have, a connection cut mid-body, a sink that refuses bytes; and the
// synchronous gunzip (gunzip-sync.ts): members, padding, corrupt and truncated streams; the stored
// gzip framing push uses (gzip-stored.ts).
import http from 'node:http';
import type net from 'node:net';
import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendWire } from './wire.js';
import { isTransient } from './http.js';
import { SyncGunzip } from './gunzip-sync.js';
import { storedGzip } from './gzip-stored.js';

const BODY = randomBytes(3 * 1024 * 1024 + 17);

describe('wire', () => {
  let server: http.Server;
  let base = '';
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const at = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      switch (req.url) {
        case '/length':
          res.setHeader('Content-Length', BODY.length - at);
          if (at > 0) res.statusCode = 206;
          res.end(BODY.subarray(at));
          return;
        case '/chunked':
          // No Content-Length: node:http sends it chunked, in pieces of our choosing.
          for (let off = 0; off < BODY.length; off += 100_003) res.write(BODY.subarray(off, off + 100_003));
          res.end();
          return;
        case '/close':
          res.useChunkedEncodingByDefault = false;
          res.shouldKeepAlive = false;
          // Two writes: no Content-Length, and no chunking either: the body ends with the connection.
          res.write(BODY.subarray(0, 1000));
          res.end(BODY.subarray(1000));
          return;
        case '/cut':
          res.setHeader('Content-Length', BODY.length);
          res.write(BODY.subarray(0, 1_000_000), () => req.socket.destroy());
          return;
        case '/error':
          res.statusCode = 404;
          res.setHeader('Content-Type', 'application/json');
          res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
          return;
        default:
          res.statusCode = 204;
          res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const get = (p: string, headers: Record<string, string> = {}) =>
    sendWire({ method: 'GET', url: new URL(p, base), headers, timeoutMs: 10_000 });
  const pourAll = async (p: string, headers?: Record<string, string>) => {
    const res = await get(p, headers);
    const parts: Buffer[] = [];
    await res.body.pour((b) => parts.push(Buffer.from(b)));
    return { res, bytes: Buffer.concat(parts) };
  };

  it('reads a body framed by Content-Length, chunked, or by the end of the connection', async () => {
    for (const p of ['/length', '/chunked', '/close']) {
      const { res, bytes } = await pourAll(p);
      expect(res.status, p).toBe(200);
      expect(bytes.equals(BODY), p).toBe(true);
      expect(res.body.complete, p).toBe(true);
    }
  });

  it('passes request headers (Range) and gives response headers', async () => {
    const { res, bytes } = await pourAll('/length', { Range: 'bytes=1000-' });
    expect(res.status).toBe(206);
    expect(res.headers['content-length']).toBe(String(BODY.length - 1000));
    expect(bytes.equals(BODY.subarray(1000))).toBe(true);
  });

  it('a connection cut mid-body fails the pour with a transient error', async () => {
    const res = await get('/cut');
    let n = 0;
    const err = await res.body.pour((b) => (n += b.length)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(isTransient(err)).toBe(true);
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(BODY.length);
  });

  it('a sink that throws ends the body with its error', async () => {
    const res = await get('/length');
    const err = await res.body
      .pour(() => {
        throw new Error('refused by the sink');
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe('refused by the sink');
  });

  it('error bodies and empty answers are read by iteration', async () => {
    const res = await get('/error');
    expect(res.status).toBe(404);
    const parts: Buffer[] = [];
    for await (const b of res.body) parts.push(b);
    expect(Buffer.concat(parts).toString()).toContain('BLOB_UNKNOWN');
    const empty = await get('/nothing');
    expect(empty.status).toBe(204);
    expect(empty.body.complete).toBe(true);
  });

  it('a refused connection is a transient error', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = await sendWire({
      method: 'GET',
      url: new URL(`http://127.0.0.1:${port}/`),
      headers: {},
      timeoutMs: 5_000,
    }).catch((e: unknown) => e);
    expect(isTransient(err)).toBe(true);
  });
});

describe('SyncGunzip', () => {
  const inflate = (input: Buffer, pieceSize: number) => {
    const z = new SyncGunzip();
    const out: Buffer[] = [];
    for (let off = 0; off < input.length; off += pieceSize)
      z.write(input.subarray(off, off + pieceSize), (b) => out.push(Buffer.from(b)));
    z.finish((b) => out.push(Buffer.from(b)));
    z.close();
    return { bytes: Buffer.concat(out), error: z.error };
  };
  const text = Buffer.from('strata '.repeat(200_000));

  it('inflates deflated and stored streams fed in any piece size', () => {
    for (const level of [0, 6])
      for (const piece of [1, 4096, 1 << 20]) {
        const input = gzipSync(piece === 1 ? text.subarray(0, 5000) : text, { level });
        const { bytes, error } = inflate(input, piece);
        expect(error).toBeNull();
        expect(bytes.equals(piece === 1 ? text.subarray(0, 5000) : text)).toBe(true);
      }
  });

  it('reads every member of a multi-member stream and ignores zero padding after it', () => {
    const input = Buffer.concat([gzipSync(text.subarray(0, 1000)), gzipSync(BODY), Buffer.alloc(512)]);
    const { bytes, error } = inflate(input, 65_536);
    expect(error).toBeNull();
    expect(bytes.equals(Buffer.concat([text.subarray(0, 1000), BODY]))).toBe(true);
  });

  it('reports corrupt and truncated streams', () => {
    const good = gzipSync(text);
    const corrupt = Buffer.from(good);
    corrupt[20]! ^= 0xff;
    expect(inflate(corrupt, 65_536).error).toBeInstanceOf(Error);
    expect(inflate(good.subarray(0, good.length - 100), 65_536).error?.message).toMatch(/unexpected end/);
  });
});

describe('storedGzip', () => {
  const framed = async (data: Buffer, piece: number) => {
    async function* pieces() {
      for (let off = 0; off < data.length; off += piece) yield data.subarray(off, off + piece);
    }
    const out: Buffer[] = [];
    for await (const b of storedGzip(pieces(), data.length)) out.push(b);
    return Buffer.concat(out);
  };

  it('is a gzip stream gunzip reads back, the same bytes whatever the source pieces', async () => {
    const first = await framed(BODY, 1 << 20);
    expect(gunzipSync(first).equals(BODY)).toBe(true);
    for (const piece of [1000, 65_535, 65_536, 3 * 1024 * 1024 + 17])
      expect((await framed(BODY, piece)).equals(first), String(piece)).toBe(true);
    expect(gunzipSync(await framed(Buffer.alloc(0), 1)).length).toBe(0);
    expect(gunzipSync(await framed(BODY.subarray(0, 65_535), 7)).equals(BODY.subarray(0, 65_535))).toBe(true);
  });

  it('refuses a source whose length is not the one announced', async () => {
    async function* short() {
      yield BODY.subarray(0, 10);
    }
    await expect(
      (async () => {
        for await (const b of storedGzip(short(), 11)) void b;
      })(),
    ).rejects.toThrow(/10 bytes of the 11/);
  });
});
