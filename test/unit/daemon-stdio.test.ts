// Which of a client's stdio fds the warm native daemon may reopen through /proc/PID/fd
// (cli/src/daemon-protocol.ts): what a reopen gives must be the same pipe, terminal or append-only
// file, else the client spawns the shim with its own fds. Checked on real fds of this process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fdFlags, reopenable } from '../../cli/src/daemon-protocol.js';

/** As the client decides: fstat of the fd, its flags from /proc/self/fdinfo. */
function reopenableFd(fd: number): boolean {
  const st = fs.fstatSync(fd);
  return reopenable(st.mode, st.rdev, () => fdFlags('self', fd));
}

/** The makedev encoding Linux's stat reports (major bits 8-19, minor bits 0-7 and 20-31). */
const makedev = (major: number, minor: number): number =>
  ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
const CHR = 0o020000;

describe('reopenable stdio', () => {
  it('files: only those opened O_APPEND (a reopened description would have an offset of its own)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-reopen-'));
    try {
      const file = path.join(dir, 'f');
      const append = fs.openSync(file, 'a');
      const write = fs.openSync(file, 'w');
      const read = fs.openSync(file, 'r');
      expect(reopenableFd(append)).toBe(true);
      expect(reopenableFd(write)).toBe(false);
      expect(reopenableFd(read)).toBe(false);
      for (const fd of [append, write, read]) fs.closeSync(fd);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("pipes (FIFOs) and /dev/null yes, sockets no (Node's own 'pipe' stdio is a socketpair)", async () => {
    const nul = fs.openSync('/dev/null', 'w');
    expect(reopenableFd(nul)).toBe(true);
    fs.closeSync(nul);
    // A FIFO has a pipe's file type (a shell's pipes: test/native/daemon.test.ts).
    const fifo = path.join(os.tmpdir(), `strata-reopen-fifo-${process.pid}`);
    spawnSync('mkfifo', [fifo]);
    try {
      const fd = fs.openSync(fifo, fs.constants.O_RDWR); // does not block on a FIFO under Linux
      expect(reopenableFd(fd)).toBe(true);
      fs.closeSync(fd);
    } finally {
      fs.rmSync(fifo, { force: true });
    }
    const server = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    expect(reopenableFd(fd)).toBe(false);
    sock.destroy();
    server.close();
  });

  it('terminals: pts slaves and numbered ttys; not /dev/tty, tty0, the console or a ptmx', () => {
    const yes = [makedev(136, 0), makedev(143, 1048575), makedev(4, 1), makedev(4, 64), makedev(1, 3)];
    const no = [makedev(5, 0), makedev(5, 1), makedev(5, 2), makedev(4, 0), makedev(1, 5), makedev(1, 1)];
    for (const d of yes) expect(reopenable(CHR | 0o620, d, () => 0)).toBe(true);
    for (const d of no) expect(reopenable(CHR | 0o666, d, () => 0)).toBe(false);
    // The encoding above is the kernel's: /dev/null's and /dev/ptmx's real numbers agree.
    expect(fs.statSync('/dev/null').rdev).toBe(makedev(1, 3));
    expect(fs.statSync('/dev/ptmx').rdev).toBe(makedev(5, 2));
  });
});
