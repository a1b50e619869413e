// The pull's layer thread (layer-thread.ts): the worker writes and hashes exactly what the main
// thread handed it, in order, through far more bytes than its slots hold (so slots are reused
// only once written); a write error comes back with the layer's end; the gunzip and the socket
// reads use its slots; a closed thread fails what is still pending.
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LayerThread } from './layer-thread.js';
import { LayerWriter } from './layer-writer.js';
import { sendWire } from './wire.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
// Bigger than the thread's 48 slots of 256 KiB: the main thread must wait for slots to come back.
const DATA = randomBytes(20 * 1024 * 1024 + 12_345);

let dir = '';
let thread: LayerThread;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-layer-thread-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => thread?.close());

describe('LayerThread', () => {
  it('writes and hashes two interleaved layers exactly, through more bytes than its slots hold', async () => {
    thread = new LayerThread();
    const files = ['a', 'b'].map((n) => path.join(dir, n));
    const fds = files.map((f) => fs.openSync(f, 'wx'));
    const sinks = fds.map((fd) => thread.sink(fd));
    // Pieces of odd sizes, some written from a slot (as the gunzip does), some from elsewhere.
    for (let off = 0, i = 0; off < DATA.length; i++) {
      const n = Math.min(DATA.length - off, 1 + ((i * 7919) % 300_000));
      const piece = DATA.subarray(off, off + n);
      if (i % 2 === 0) {
        const slot = thread.take();
        piece.copy(slot, 0, 0, Math.min(n, slot.length));
        sinks[0]!.write(slot.subarray(0, Math.min(n, slot.length)));
        thread.give(slot);
        if (n > slot.length) sinks[0]!.write(piece.subarray(slot.length));
      } else {
        sinks[0]!.write(piece);
      }
      sinks[1]!.write(piece.subarray(0, Math.min(n, 1000)));
      off += n;
    }
    const [a, b] = await Promise.all(sinks.map((s) => s.end()));
    fds.forEach((fd) => fs.closeSync(fd));
    expect(thread.freeSlots).toBe(48);
    expect(a).toEqual({ hex: sha(DATA), error: null });
    expect(fs.readFileSync(files[0]!).equals(DATA)).toBe(true);
    const second = fs.readFileSync(files[1]!);
    expect(b).toEqual({ hex: sha(second), error: null });
    expect(second.length).toBeGreaterThan(0);
  });

  it('reports a write error with the layer end (and still hashes the rest)', async () => {
    thread = new LayerThread();
    const file = path.join(dir, 'readonly');
    fs.writeFileSync(file, '');
    const fd = fs.openSync(file, 'r');
    const sink = thread.sink(fd);
    sink.write(DATA.subarray(0, 1000));
    const r = await sink.end();
    fs.closeSync(fd);
    expect(r.error).toMatch(/EBADF|bad file/i);
    expect(r.hex).toBe(sha(DATA.subarray(0, 1000)));
  });

  it('gunzips into its slots: the LayerWriter gives the same file and diff ID with and without it', async () => {
    const gz = gzipSync(DATA.subarray(0, 5_000_000), { level: 1 });
    const write = async (name: string, t?: LayerThread) => {
      const w = new LayerWriter(path.join(dir, name), true, t);
      for (let off = 0; off < gz.length; off += 100_000) w.write(gz.subarray(off, off + 100_000));
      return w.end();
    };
    thread = new LayerThread();
    const viaThread = await write('gz-thread', thread);
    const direct = await write('gz-direct');
    expect(viaThread).toEqual(direct);
    expect(direct).toEqual({ diffId: `sha256:${sha(DATA.subarray(0, 5_000_000))}`, size: 5_000_000 });
    expect(fs.readFileSync(path.join(dir, 'gz-thread')).equals(DATA.subarray(0, 5_000_000))).toBe(true);
  });

  it('fails the layers still pending once closed', async () => {
    thread = new LayerThread();
    const fd = fs.openSync(path.join(dir, 'closed'), 'wx');
    const sink = thread.sink(fd);
    thread.close();
    await expect(sink.end()).rejects.toThrow(/closed/);
    fs.closeSync(fd);
    expect(() => thread.sink(0)).toThrow(/closed/);
  });
});

describe('socket reads into the slots', () => {
  let server: http.Server;
  let base = '';
  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      res.setHeader('Content-Length', DATA.length);
      res.end(DATA);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads a body into slots, handed back once handled: all of it, in order', async () => {
    thread = new LayerThread();
    const res = await sendWire({
      method: 'GET',
      url: new URL('/blob', base),
      headers: {},
      timeoutMs: 10_000,
      readInto: thread,
    });
    const h = createHash('sha256');
    let n = 0;
    let inSlots = 0;
    await res.body.pour((b) => {
      if (b.buffer instanceof SharedArrayBuffer) inSlots += b.length;
      h.update(b);
      n += b.length;
    });
    expect(n).toBe(DATA.length);
    expect(h.digest('hex')).toBe(sha(DATA));
    // The head and whatever came with it in the first read are copied; the rest was read in place.
    expect(inSlots).toBeGreaterThan(DATA.length - 1024 * 1024);
    // Every slot is free again once the connection has closed.
    await new Promise((r) => setTimeout(r, 50));
    expect(thread.freeSlots).toBe(48);
  });
});
