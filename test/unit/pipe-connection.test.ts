// The thin client's connection to the native daemon, both ways it is made: libuv's pipe handle
// (the usual one) and node:net (the fallback when the binding is unusable or would warn).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  connectBytes,
  preferredTransport,
  type ByteConnection,
  type Transport,
} from '../../cli/src/pipe-connection.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-pipe-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A server that answers each line with its length, and closes after the line "bye". */
function lengthServer(sock: string): Promise<net.Server> {
  const server = net.createServer((c) => {
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString('utf8');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line === 'bye') c.end();
        else c.write(`${line.length}\n`);
      }
    });
  });
  return new Promise((resolve) => server.listen(sock, () => resolve(server)));
}

function collect(conn: ByteConnection): { text: () => string; closed: Promise<void> } {
  const chunks: Buffer[] = [];
  conn.onData((c) => chunks.push(Buffer.from(c))); // copied: a chunk may be a view of a reused buffer
  const closed = new Promise<void>((r) => conn.onClose(r));
  return { text: () => Buffer.concat(chunks).toString('utf8'), closed };
}

/** `fn` with a connection to a fresh lengthServer, whatever it does; the server closed after. */
async function withLengthServer(
  transport: Transport,
  fn: (conn: ByteConnection, got: ReturnType<typeof collect>) => Promise<void>,
): Promise<void> {
  const sock = path.join(dir, 's.sock');
  const server = await lengthServer(sock);
  try {
    const conn = await connectBytes(sock, transport);
    await fn(conn, collect(conn));
  } finally {
    server.close();
  }
}

it('uses the pipe handle on this Node', () => {
  // The fallback exists for other Nodes; here the fast path must be the one taken.
  expect(preferredTransport()).toBe('pipe-handle');
});

describe.each<Transport>(['pipe-handle', 'net'])('over %s', (transport) => {
  it('writes lines, reads answers in order, and sees the peer close', () =>
    withLengthServer(transport, async (conn, got) => {
      const big = 'x'.repeat(3 << 20); // larger than a socket buffer: the write completes later
      conn.write('hello\n');
      conn.write(`${big}\n`);
      conn.write('bye\n');
      await got.closed;
      expect(got.text()).toBe(`5\n${big.length}\n`);
      expect(conn.destroyed).toBe(true);
    }));

  it('rejects with ENOENT when nothing is at the path', async () => {
    await expect(connectBytes(path.join(dir, 'none.sock'), transport)).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('rejects with ECONNREFUSED when the socket has no listener', async () => {
    const sock = path.join(dir, 'dead.sock');
    const server = await lengthServer(sock);
    // Closing a server unlinks its path; a socket file left by a killed daemon is what matters.
    const stale = path.join(dir, 'stale.sock');
    fs.linkSync(sock, stale);
    await new Promise<void>((r) => server.close(() => r()));
    await expect(connectBytes(stale, transport)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('destroy() stops delivery and writes after it are dropped', () =>
    withLengthServer(transport, async (conn, got) => {
      conn.destroy();
      conn.write('late\n');
      await new Promise((r) => setTimeout(r, 50));
      expect(got.text()).toBe('');
      expect(conn.destroyed).toBe(true);
    }));
});
