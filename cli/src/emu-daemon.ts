// The per-store emu daemon: one background process holding one guest, so that `strata --backend emu
// run -d` and a later `exec`, `stop` or `rm` see the same containers. Every emu CLI command is sent to
// it over a unix socket under the store root (started on first use); the daemon runs the command as
// the CLI would, in its own process, and streams its stdout, stderr and exit code back.
//
// `strata scenario --backend(s) emu` sends only its emu batches here (runScenarios): they run in the
// same guest, restored once for all commands.
//
// Wire format, newline-delimited JSON. Request: {"cli": argv, "cwd": dir} | {"sh": script} |
// {"scenarios": Scenario[]} | {"stop": true}. Answer: {"o": base64} (stdout) and {"e": base64}
// (stderr) chunks, then {"code": n}; a scenarios request's stdout is the JSON list of raw results
// ({"error": message} for one that could not run). Requests run one at a time: commands write to
// process.stdout, which is redirected per command.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { connect } from './unix-connect.js';
import { StrataError } from '../../shared/src/errors.js';
import type { Backend } from '../../shared/src/backend.js';
import type { EmuBackend } from '../../backend-emu/src/backend.js';
import type { GuestMachine } from '../../backend-emu/src/guest.js';
import type { EmuScenarioRunner } from '../../backend-emu/src/emu-scenario.js';
import type { RawResult, Scenario } from '../../shared/src/scenario/index.js';

/** The daemon's directory under the store root: its socket and its log. */
export function daemonDir(root: string): string {
  return path.join(root, 'emu');
}
export function socketPath(root: string): string {
  return path.join(daemonDir(root), 'daemon.sock');
}

/** How long the daemon waits without a request before it stops (and its guest with it). */
const IDLE_MS = Number(process.env['STRATA_EMU_DAEMON_IDLE_MS'] ?? 30 * 60_000);
/** A daemon that is starting restores nothing yet: its socket appears within a second or two. */
const START_TIMEOUT_MS = 60_000;

let backend: EmuBackend | null = null;

/** In the daemon: the one EmuBackend every command shares. Null in a client process. */
export function daemonBackend(): Backend | null {
  return backend;
}

type Request = { cli: string[]; cwd: string } | { sh: string } | { scenarios: Scenario[] } | { stop: true };
type Answer = { o: string } | { e: string } | { code: number };

function parseRequest(line: string): Request {
  const v: unknown = JSON.parse(line);
  if (typeof v === 'object' && v !== null) {
    const r = v as Record<string, unknown>;
    if (
      Array.isArray(r['cli']) &&
      r['cli'].every((a) => typeof a === 'string') &&
      typeof r['cwd'] === 'string'
    )
      return { cli: r['cli'] as string[], cwd: r['cwd'] };
    if (typeof r['sh'] === 'string') return { sh: r['sh'] };
    if (Array.isArray(r['scenarios'])) return { scenarios: r['scenarios'] as Scenario[] };
    if (r['stop'] === true) return { stop: true };
  }
  throw new Error(`not an emu daemon request: ${line.slice(0, 80)}`);
}

interface Sinks {
  out(b: Buffer): void;
  err(b: Buffer): void;
}
const relay: Sinks = { out: (b) => process.stdout.write(b), err: (b) => process.stderr.write(b) };

/** Sends one request and passes the answer's output to `sinks` (this process's stdout/stderr). */
function exchange(s: net.Socket, req: Request, sinks: Sinks = relay): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let code: number | null = null;
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const a = JSON.parse(buf.slice(0, i)) as Answer;
        buf = buf.slice(i + 1);
        if ('o' in a) sinks.out(Buffer.from(a.o, 'base64'));
        else if ('e' in a) sinks.err(Buffer.from(a.e, 'base64'));
        else code = a.code;
      }
    });
    s.on('error', reject);
    s.on('close', () =>
      code === null
        ? reject(new StrataError('the emu daemon closed the connection without an exit code'))
        : resolve(code),
    );
    s.write(JSON.stringify(req) + '\n');
  });
}

/** A connection to this store's daemon, starting one (`startArgv`, detached) when none answers. */
async function daemonConnection(root: string, startArgv: string[]): Promise<net.Socket> {
  const sock = socketPath(root);
  try {
    return await connect(sock);
  } catch {
    // None running (or a stale socket): start one, then wait for its socket.
  }
  fs.mkdirSync(daemonDir(root), { recursive: true });
  const log = fs.openSync(path.join(daemonDir(root), 'daemon.log'), 'a');
  spawn(startArgv[0]!, startArgv.slice(1), { detached: true, stdio: ['ignore', log, log] }).unref();
  fs.closeSync(log);
  const deadline = performance.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      return await connect(sock);
    } catch (e) {
      if (performance.now() > deadline) {
        throw new StrataError(
          `the emu daemon for ${root} did not start within ${START_TIMEOUT_MS} ms (${(e as Error).message}; ` +
            `see ${path.join(daemonDir(root), 'daemon.log')})`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Client side: runs a CLI command (argv with the global options) in the store's daemon. */
export async function forward(root: string, argv: string[], startArgv: string[]): Promise<number> {
  return exchange(await daemonConnection(root, startArgv), { cli: argv, cwd: process.cwd() });
}

/** How a client starts the daemon of `root`: this same CLI script. */
export function serveArgv(root: string): string[] {
  const script = process.argv[1] ? path.resolve(process.argv[1]) : '';
  return [process.execPath, script, '--root', root, '--backend', 'emu', 'emu-daemon', 'serve'];
}

/** One request whose output is collected; a non-zero exit is an error carrying its stderr. */
async function collect(root: string, req: Request, startArgv: string[]): Promise<string> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const code = await exchange(await daemonConnection(root, startArgv), req, {
    out: (b) => out.push(b),
    err: (b) => err.push(b),
  });
  if (code !== 0)
    throw new StrataError(`the emu daemon: ${Buffer.concat(err).toString().trim() || `exit ${code}`}`);
  return Buffer.concat(out).toString();
}

/** Client side: the release of the daemon's guest kernel (`uname -r`). */
export async function guestRelease(root: string, startArgv: string[]): Promise<string> {
  return (await collect(root, { sh: 'uname -r' }, startArgv)).trim();
}

/** Client side: scenarios run in the daemon's guest; each one's raw result or why it could not run. */
export async function runScenarios(
  root: string,
  scenarios: readonly Scenario[],
  startArgv: string[],
): Promise<Array<RawResult | Error>> {
  const text = await collect(root, { scenarios: [...scenarios] }, startArgv);
  const list = JSON.parse(text) as Array<RawResult | { error: string }>;
  return list.map((r) => ('error' in r ? new StrataError(r.error) : r));
}

/**
 * `strata --backend emu emu-daemon [serve|stop|sh SCRIPT]`: serve runs the daemon (what clients
 * start); stop ends a running one with its guest; sh runs a script in its guest (diagnostics, tests).
 */
export async function daemonCommand(
  root: string,
  args: string[],
  startArgv: string[],
  runCli: (argv: string[]) => Promise<number>,
): Promise<number> {
  const [verb = 'serve', ...rest] = args;
  if (verb === 'serve') return serve(root, runCli);
  if (verb === 'stop') {
    const s = await connect(socketPath(root)).catch(() => null);
    if (!s) return 0; // nothing to stop
    return exchange(s, { stop: true });
  }
  if (verb === 'sh' && rest.length === 1) {
    return exchange(await daemonConnection(root, startArgv), { sh: rest[0]! });
  }
  throw new StrataError("usage: strata --backend emu emu-daemon [serve | stop | sh 'SCRIPT']", 125);
}

async function serve(root: string, runCli: (argv: string[]) => Promise<number>): Promise<number> {
  const sock = socketPath(root);
  fs.mkdirSync(daemonDir(root), { recursive: true });
  const other = await connect(sock).catch(() => null);
  if (other) {
    other.destroy();
    return 0; // another daemon serves this store already
  }
  fs.rmSync(sock, { force: true }); // stale, from a daemon that died
  const { EmuBackend } = await import('../../backend-emu/src/backend.js');
  backend = new EmuBackend({ ephemeral: false });
  // One scenario runner per guest (a replaced guest gets its own): it copies the executor in once.
  const runners = new WeakMap<GuestMachine, EmuScenarioRunner>();
  let queue: Promise<void> = Promise.resolve();
  let idle: NodeJS.Timeout | null = null;
  let done!: (code: number) => void;
  const finished = new Promise<number>((r) => (done = r));
  const server = net.createServer();

  const shutdown = async (): Promise<void> => {
    if (idle) clearTimeout(idle);
    server.close();
    fs.rmSync(sock, { force: true });
    await backend?.close();
    done(0);
  };
  const armIdle = (): void => {
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => void (queue = queue.then(shutdown)), IDLE_MS);
  };

  const handle = async (req: Request, send: (a: Answer) => void): Promise<void> => {
    if ('stop' in req) {
      send({ code: 0 });
      await shutdown();
      return;
    }
    if ('sh' in req) {
      const r = await (await backend!.guest()).run(req.sh, { timeoutMs: 120_000 });
      if (r.stdout) send({ o: Buffer.from(r.stdout).toString('base64') });
      if (r.stderr) send({ e: Buffer.from(r.stderr).toString('base64') });
      send({ code: r.exitCode });
      return;
    }
    if ('scenarios' in req) {
      const guest = await backend!.guest();
      let runner = runners.get(guest);
      if (!runner) {
        const { EmuScenarioRunner } = await import('../../backend-emu/src/emu-scenario.js');
        runners.set(guest, (runner = new EmuScenarioRunner(guest)));
      }
      const raw = await runner.runRaw(req.scenarios);
      const list = raw.map((r) => (r instanceof Error ? { error: r.message } : r));
      send({ o: Buffer.from(JSON.stringify(list)).toString('base64') });
      send({ code: 0 });
      return;
    }
    // The command writes to process.stdout/stderr (the runtime streams container output there):
    // those go to this client while it runs.
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    const redirect =
      (key: 'o' | 'e') =>
      (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
        send(
          key === 'o'
            ? { o: Buffer.from(chunk).toString('base64') }
            : { e: Buffer.from(chunk).toString('base64') },
        );
        const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
        cb?.();
        return true;
      };
    process.stdout.write = redirect('o') as typeof process.stdout.write;
    process.stderr.write = redirect('e') as typeof process.stderr.write;
    const cwd = process.cwd();
    try {
      process.chdir(req.cwd);
      send({ code: await runCli(req.cli) });
    } finally {
      process.chdir(cwd);
      process.stdout.write = out;
      process.stderr.write = err;
    }
  };

  server.on('connection', (conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('error', () => undefined); // a client that went away: its command still completes
    conn.on('data', (chunk: string) => {
      buf += chunk;
      const i = buf.indexOf('\n');
      if (i < 0) return;
      const line = buf.slice(0, i);
      buf = '';
      const send = (a: Answer): void => {
        if (!conn.destroyed) conn.write(JSON.stringify(a) + '\n');
      };
      queue = queue.then(async () => {
        if (idle) clearTimeout(idle);
        try {
          await handle(parseRequest(line), send);
        } catch (e) {
          send({ e: Buffer.from(`strata: ${(e as Error).message}\n`).toString('base64') });
          send({ code: e instanceof StrataError ? e.exitCode : 125 });
        }
        conn.end();
        armIdle();
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sock, () => resolve());
  });
  fs.chmodSync(sock, 0o600);
  armIdle();
  process.stdout.write(`strata emu daemon for ${root}: listening on ${sock} (pid ${process.pid})\n`);
  return finished;
}
