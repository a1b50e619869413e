// The thin client of the warm native daemon (native-daemon.ts): `strata run` sends its arguments
// to the store's daemon, which does the engine work warm (image, layers, init layer, record, the
// shim's plan). When this process's stdio can be reopened through /proc/PID/fd as itself (pipes,
// terminals, /dev/null, files opened O_APPEND) and the run has no -t, the daemon starts the shim with
// them; otherwise this process starts it with its own stdio, as the CLI does. Either way terminals,
// pipes, signals and exit codes are the CLI's. It loads almost nothing (the connection is libuv's
// pipe handle, pipe-connection.ts; net and child_process only to spawn): a Node start is the floor,
// and a cold engine costs ~100 ms of compiling on top (docs/native-backend.md).
//
// Null from runViaDaemon means "do it directly": STRATA_DAEMON=0, not a native `run` as root, no
// daemon (one is started in the background for next time), or a daemon that went away before it
// had started anything.
import type { ChildProcess } from 'node:child_process';
// Named imports: esbuild copies every property of a default-imported builtin at load (__toESM).
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { connectBytes, type ByteConnection } from './pipe-connection.js';
import { forwardTerminal } from '../../backend-native/src/forward-terminal.js';
import { nativeCommandLine, type NativeCommandLine } from './native-command-line.js';
import { parseExitFile } from '../../shared/src/exit-file.js';
import { trace } from '../../shared/src/trace.js';
import {
  daemonSocket,
  DAEMON_DIR,
  fdFlags,
  proxySignals,
  reopenable,
  type ClientMessage,
  type DaemonMessage,
  type RunRequest,
  type SpawnPlan,
  type Started,
} from './daemon-protocol.js';

/** Loaded only when this process spawns (node:child_process costs a start milliseconds). */
const childProcess = (): typeof import('node:child_process') =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('node:child_process') as typeof import('node:child_process');

/** Loaded only for the shim's control socket (node:net loads the streams: ~2 ms of a start). */
const net = (): typeof import('node:net') =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('node:net') as typeof import('node:net');

/** A native `run` as root with something to run; else null. */
function runArguments(argv: string[]): NativeCommandLine | null {
  const g = nativeCommandLine(argv, 'run');
  return g && g.args.length >= 2 && g.args[1] !== '--help' ? g : null;
}

/** For next time: a daemon for this store (only once the store exists: its first command makes it). */
function startDaemon(root: string, sock: string): void {
  if (!existsSync(root)) return;
  try {
    mkdirSync(DAEMON_DIR, { recursive: true, mode: 0o700 });
    const log = openSync(sock.replace(/\.sock$/, '.log'), 'a', 0o600);
    const argv = [process.argv[1]!, '--root', root, 'native-daemon'];
    childProcess()
      .spawn(process.execPath, argv, { detached: true, stdio: ['ignore', log, log] })
      .unref();
    closeSync(log);
  } catch {
    /* this command runs directly either way */
  }
}

/** STRATA_TRACE=1: a phase of the client's, in ms since its start (the daemon's lines use this clock). */
const clientTrace = (label: string): void => trace(`client: ${label}`);

let wroteStdout = false;

/** Whether this module wrote to process.stdout (what bin/strata.js must let drain before exiting). */
export function stdoutUsed(): boolean {
  return wroteStdout;
}

/** Runs `strata run ...` through the daemon of the store and `build` (dist/BUILD); null: directly. */
export async function runViaDaemon(argv: string[], build: string): Promise<number | null> {
  if (process.env.STRATA_DAEMON === '0') return null;
  const g = runArguments(argv);
  if (!g) return null;
  const sock = daemonSocket(g.root, build);
  const token = `${process.pid}.${Date.now()}`;
  const stdio = reopenableStdio();
  // Connection B (the shim's control socket), paused: this process never reads it. Made at once
  // when this process will spawn the shim; when the daemon can start it (stdio), only if told to.
  let ctl = stdio ? null : controlConnection(sock, token);
  let conn: ByteConnection;
  try {
    conn = await connectBytes(sock);
  } catch {
    ctl?.destroy();
    startDaemon(g.root, sock);
    return null;
  }
  return session(conn, () => (ctl ??= controlConnection(sock, token)), g, token, sock, stdio);
}

function controlConnection(sock: string, token: string): Socket {
  const ctl = new (net().Socket)();
  ctl.pause();
  ctl.on('error', () => undefined);
  ctl.connect(sock);
  ctl.write(`ctl ${token}\n`);
  return ctl;
}

/** What the daemon may reopen of this process's stdio (daemon-protocol.ts); null: stdout or stderr cannot be. */
function reopenableStdio(): RunRequest['stdio'] | null {
  const ok = (fd: number): boolean => {
    try {
      const st = fstatSync(fd);
      return reopenable(st.mode, st.rdev, () => fdFlags('self', fd));
    } catch {
      return false; // closed
    }
  };
  return ok(1) && ok(2) ? { pid: process.pid, stdin: ok(0) } : null;
}

function session(
  conn: ByteConnection,
  control: () => Socket,
  g: NativeCommandLine,
  token: string,
  sock: string,
  stdio: RunRequest['stdio'] | null,
): Promise<number | null> {
  const send = (m: ClientMessage): void => {
    if (!conn.destroyed) conn.write(JSON.stringify(m) + '\n');
  };
  return new Promise((resolve) => {
    let plan: SpawnPlan | null = null;
    let started: Started | null = null;
    let ctl: Socket | null = null;
    let shim: ChildProcess | null = null;
    let shimExit: Promise<number> | null = null;
    let stopProxy = (): void => undefined;
    let finished = false;
    let served = false;
    const finish = (code: number | null): void => {
      if (finished) return;
      finished = true; // the signal proxy forwards nothing from here on
      // With a code this process exits next: the kernel closes the sockets (net's destroy() would
      // create process.stderr, which it compares the socket with) and drops the signal handlers
      // (removing six costs as many sigactions), ~0.4 ms for nothing.
      if (code === null) {
        stopProxy();
        ctl?.destroy();
        conn.destroy();
      }
      resolve(code);
    };

    const start = (p: SpawnPlan, b: Socket): void => {
      plan = p;
      const fds: number[] = [];
      try {
        for (const f of p.fds) fds.push(openSync(f.path, f.flags));
        shim = childProcess().spawn(p.shim, p.args, {
          stdio: [p.stdin ? 0 : 'ignore', 1, 2, b, ...fds],
          env: p.env,
          detached: true,
        });
      } catch (e) {
        send({ spawnError: (e as Error).message });
        return;
      } finally {
        for (const fd of fds) closeSync(fd);
        b.destroy(); // the shim has its own copy: the daemon sees its end when the shim's goes
      }
      const child = shim;
      if (child.pid === undefined) {
        child.once('error', (e) => send({ spawnError: e.message }));
        return;
      }
      const stopTerminal = p.terminal ? forwardTerminal(child, p.attachStdin) : () => undefined;
      shimExit = new Promise((done) =>
        child.once('exit', (code, sig) => {
          stopTerminal();
          const status = code ?? 128 + (sig === 'SIGKILL' ? 9 : 15);
          send({ exit: status });
          done(status);
        }),
      );
      send({ spawned: child.pid });
    };

    const onMessage = (m: DaemonMessage): void => {
      if (!served && ('spawn' in m || 'started' in m || 'code' in m)) {
        served = true;
        clientTrace(`run through the daemon ${sock}`);
      }
      if ('o' in m) {
        wroteStdout = true;
        process.stdout.write(Buffer.from(m.o, 'base64'));
      } else if ('e' in m) process.stderr.write(Buffer.from(m.e, 'base64'));
      else if ('spawn' in m) {
        // A connection B made only now is connected before the spawn hands it over.
        const b = (ctl = control());
        const p = m.spawn;
        if (b.connecting) b.once('connect', () => start(p, b));
        else start(p, b);
      } else if ('started' in m) {
        started = m.started;
        clientTrace(`the daemon started the shim with this process's stdio`);
      } else if ('pid' in m) {
        clientTrace('told the container PID');
        const pid = m.pid;
        stopProxy = proxySignals((sig) => {
          if (finished) return;
          try {
            process.kill(pid, sig);
          } catch {
            /* already gone */
          }
        });
      } else {
        clientTrace('answered');
        finish(m.code);
      }
    };

    // Bytes, split at newlines (JSON has none inside a line): setEncoding would load a string
    // decoder for nothing.
    let buf: Buffer = Buffer.alloc(0);
    conn.onData((chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (let i = buf.indexOf(10); i >= 0 && !finished; i = buf.indexOf(10)) {
        const line = buf.toString('utf8', 0, i);
        buf = buf.subarray(i + 1);
        onMessage(JSON.parse(line) as DaemonMessage);
      }
    });
    conn.onClose(() => {
      if (finished) return;
      // The daemon went away. Before it handed over a shim nothing ran: do it all directly (and
      // start a daemon in its place for next time).
      if (started !== null) return void orphanedStarted(started, g).then(finish);
      if (plan === null) {
        startDaemon(g.root, sock);
        return finish(null);
      }
      void orphaned(plan, shimExit, g).then(finish);
    });
    send({
      run: {
        root: g.root,
        args: g.args,
        debug: g.debug,
        cwd: process.cwd(),
        env: process.env as Record<string, string>,
        token,
        ...(stdio ? { stdio } : {}),
        // Only a traced run needs the client's clock (the `performance` global loads perf_hooks).
        ...(process.env.STRATA_TRACE === '1' ? { t0: performance.timeOrigin } : {}),
      },
    });
    clientTrace('request sent');
  });
}

/**
 * The daemon went away after handing over a shim: the shim's status is the payload's (or 125 if
 * it gave up before starting it), and an --rm container is removed the direct way.
 */
async function orphaned(
  plan: SpawnPlan,
  shimExit: Promise<number> | null,
  g: NativeCommandLine,
): Promise<number> {
  const code = shimExit ? await shimExit : 125;
  return wentAway(plan.id, plan.autoRemove, code, g);
}

/**
 * The daemon went away after starting the shim itself: this process cannot wait for it (not its
 * child), so it watches the PID and takes the status from the exit file the shim writes.
 */
async function orphanedStarted(s: Started, g: NativeCommandLine): Promise<number> {
  while (alive(s.shimPid)) await new Promise((r) => setTimeout(r, 50));
  let code = 255; // as a container whose monitor vanished without a status (engine.refresh)
  try {
    code = parseExitFile(readFileSync(s.exitFile, 'utf8')).exitCode;
  } catch {
    /* none written */
  }
  return wentAway(s.id, s.autoRemove, code, g);
}

/** Running: a zombie is not (whoever inherited the shim may never reap it). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function wentAway(id: string, autoRemove: boolean, code: number, g: NativeCommandLine): number {
  process.stderr.write(`strata: the daemon for ${g.root} went away during the run of ${id.slice(0, 12)}\n`);
  if (autoRemove) {
    childProcess().spawnSync(process.execPath, [process.argv[1]!, '--root', g.root, 'rm', '-f', '-v', id], {
      stdio: 'ignore',
    });
  }
  return code;
}
