// One connection to a daemon's unix socket, as a promise (the emu daemon's clients; the native
// daemon's thin client when libuv's pipe handle cannot be used, pipe-connection.ts).
import { createConnection, type Socket } from 'node:net';

/** Resolves once connected; rejects with the socket's error (ENOENT, ECONNREFUSED: no daemon). */
export function connect(sock: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(sock);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}
