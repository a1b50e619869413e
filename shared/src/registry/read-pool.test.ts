// The push's read-buffer pool: a buffer is reused only after every byte read into it was sent.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BufferPool } from './read-pool.js';
import { storedGzip } from './gzip-stored.js';
import { BlobStore } from '../store/blobs.js';
import { sha256 } from '../store/digest.js';
import { StoreLayout } from '../store/layout.js';

describe('read buffer pool', () => {
  it('returns the buffers before the last one a sent request viewed, and all at the end', () => {
    const pool = new BufferPool();
    const t = pool.tracker();
    const [a, b, c] = [t.take(), t.take(), t.take()];
    // A request ending inside b (after a header that is no read buffer): a is free, b is not.
    t.sent([a.subarray(10), b.subarray(0, 5), Buffer.from('hdr')]);
    expect(pool.get()).toBe(a);
    // Nothing else is free yet: the next one is fresh memory.
    const fresh = pool.get();
    expect([a, b, c]).not.toContain(fresh);
    t.sent([b.subarray(5), c.subarray(0, 1)]);
    expect(pool.get()).toBe(b);
    t.finished();
    expect(pool.get()).toBe(c);
  });

  it('a blob read through the pool streams the same bytes and still has its digest checked', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-pool-'));
    try {
      const layout = new StoreLayout(dir);
      fs.mkdirSync(layout.blobs, { recursive: true });
      const store = new BlobStore(layout);
      const data = Buffer.alloc(3 * (1 << 20) + 123);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
      const digest = store.put(data);
      const t = new BufferPool().tracker();
      const pieces: Buffer[] = [];
      for await (const p of store.stream(digest, t.take)) pieces.push(Buffer.from(p));
      expect(Buffer.concat(pieces).equals(data)).toBe(true);
      // The same layer framed from pooled reads gives the same gzip bytes as from one buffer.
      const framed: Buffer[] = [];
      for await (const p of storedGzip(store.stream(digest, new BufferPool().tracker().take), data.length))
        framed.push(Buffer.from(p));
      const whole: Buffer[] = [];
      for await (const p of storedGzip(
        (async function* () {
          yield data;
        })(),
        data.length,
      ))
        whole.push(Buffer.from(p));
      expect(sha256(Buffer.concat(framed))).toBe(sha256(Buffer.concat(whole)));
      // A blob whose file was altered fails the stream.
      fs.writeFileSync(store.path(digest), Buffer.concat([data.subarray(1), Buffer.from([0])]));
      await expect(async () => {
        for await (const p of store.stream(digest, new BufferPool().tracker().take)) void p;
      }).rejects.toThrow(/digest|sha256/i);
      await expect(async () => {
        for await (const p of store.stream(`sha256:${'0'.repeat(64)}`, new BufferPool().tracker().take))
          void p;
      }).rejects.toThrow(/not found in the store/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
