// GuestMachine: a Linux guest in v86, resumed from the snapshot that images/guest/snapshot.mjs
// saved, driven through the framed serial agent (images/guest/agent) and v86's 9p filesystem.
//
// The wire protocol is in protocol.ts.

import { findUp } from '../../shared/src/find-up.js';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import {
  CANCEL,
  FrameParser,
  requestLine,
  requestPayload,
  setClockLine,
  shellQuote,
  type AgentEvent,
} from './protocol.ts';
import { startEmulator, type Emulator } from './v86-host.ts';
import { addDeferred, deferredFailure, deferredScript, type DeferredWork } from './deferred.ts';

const gunzipAsync = promisify(gunzip);

/** Where the guest's 9p share is mounted inside the guest. */
export const GUEST_HOST_MOUNT = '/mnt/host';
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface GuestImagePaths {
  /** SeaBIOS image the snapshot was taken with. */
  bios: string;
  /** gzip of v86's save_state(). */
  state: string;
  /** state.json written next to the state: memory size, kernel release, boot time. */
  meta: string;
}

export interface RunOptions {
  /** Host-side limit; the guest kills the command's session after it too. Default 30 s. */
  timeoutMs?: number;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** RunResult with the raw bytes, for binary output. */
export interface RunBytesResult {
  exitCode: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
}

export class GuestError extends Error {
  override name = 'GuestError';
}

export class GuestImageMissingError extends GuestError {
  override name = 'GuestImageMissingError';
}

export class GuestTimeoutError extends GuestError {
  override name = 'GuestTimeoutError';
  constructor(
    readonly command: string,
    readonly timeoutMs: number,
  ) {
    super(`guest did not answer '${command}' within ${timeoutMs} ms`);
  }
}

/**
 * The guest can no longer answer: its kernel panicked, its agent died mid-request, or it did not
 * answer the cancel of a request that timed out (agent or emulated CPU stuck). The machine is
 * destroyed; only a fresh restore helps. `sent` is false when the request never reached the guest
 * (so it is safe to run it again elsewhere).
 */
export class GuestDeadError extends GuestError {
  override name = 'GuestDeadError';
  constructor(
    message: string,
    readonly sent: boolean,
  ) {
    super(message);
  }
}

/** How long a cancelled request may take to send its frame before the guest is declared dead. */
export const CANCEL_GRACE_MS = 5_000;
const PANIC = /Kernel panic - not syncing/;

/** A layer snapshot.mjs applied in the guest's store before saving it (docs/emulator.md). */
export interface BakedLayer {
  /** sha256:... of the layer tar it was made from. */
  diffId: string;
  /** Its directory under the guest's overlay2 (the diff ID's hex) and its l/ link name. */
  dir: string;
  link: string;
  /** sha256 of the unpack script it was made with (which names the substituted binary). */
  script: string;
}

export interface StateMeta {
  memoryMiB: number;
  kernel: string;
  /** sha256 of the preparation script run before saving (EmuSession skips it when it is current). */
  prepared: string | null;
  baked: BakedLayer[];
}

function parseBaked(v: unknown): BakedLayer[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((b: unknown) => {
    if (typeof b !== 'object' || b === null) return [];
    const r = b as Record<string, unknown>;
    const { diffId, dir, link, script } = r;
    if (typeof diffId !== 'string' || typeof dir !== 'string' || typeof link !== 'string') return [];
    if (typeof script !== 'string' || !/^[a-f0-9]{64}$/.test(dir) || !/^[A-Z0-9]{26}$/.test(link)) return [];
    return [{ diffId, dir, link, script }];
  });
}

function parseMeta(text: string, path: string): StateMeta {
  const value: unknown = JSON.parse(text);
  if (typeof value === 'object' && value !== null) {
    const v = value as Record<string, unknown>;
    if (typeof v['memoryMiB'] === 'number' && typeof v['kernel'] === 'string') {
      return {
        memoryMiB: v['memoryMiB'],
        kernel: v['kernel'],
        prepared: typeof v['prepared'] === 'string' ? v['prepared'] : null,
        baked: parseBaked(v['baked']),
      };
    }
  }
  throw new GuestError(`${path}: not a guest state description`);
}

/** The build cache: $STRATA_GUEST_CACHE, else <repo>/.cache/guest. */
export function guestCacheDir(): string {
  const fromEnv = process.env['STRATA_GUEST_CACHE'];
  if (fromEnv) return resolve(fromEnv);
  // From the source tree or from a bundle chunk (dist/<version>/chunks): the depth differs.
  const here = dirname(fileURLToPath(import.meta.url));
  return findUp(here, '.cache/guest') ?? resolve(here, '../../.cache/guest');
}

export function guestImagePaths(dir: string = guestCacheDir()): GuestImagePaths {
  return { bios: join(dir, 'bios.bin'), state: join(dir, 'state.bin.gz'), meta: join(dir, 'state.json') };
}

/** The bytes as an ArrayBuffer of their own, without a copy when the Buffer already is one. */
function ownArrayBuffer(b: Buffer): ArrayBuffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) {
    return b.buffer;
  }
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return copy.buffer;
}

/**
 * The saved machine, uncompressed. The gzip is the snapshot as built and shipped (11 MB); its
 * gunzip (35 MB) is kept beside it (`state.bin`) for the next restore, which then reads it instead
 * of inflating again: 0.15 to 0.5 s off every restore on a quiet machine, seconds when loaded. A
 * sidecar older than the gzip is stale (a rebuilt snapshot) and is made again; one that cannot be
 * written (a read-only cache) only costs the gunzip.
 */
async function loadState(gzPath: string): Promise<ArrayBuffer> {
  const rawPath = gzPath.replace(/\.gz$/, '');
  const [gz, raw] = await Promise.all([stat(gzPath).catch(() => null), stat(rawPath).catch(() => null)]);
  if (gz && raw && rawPath !== gzPath && raw.mtimeMs >= gz.mtimeMs) {
    return ownArrayBuffer(await readFile(rawPath));
  }
  const state = await gunzipAsync(await readImageFile(gzPath));
  if (rawPath !== gzPath) {
    const tmp = `${rawPath}.${process.pid}.tmp`;
    await writeFile(tmp, state)
      .then(() => rename(tmp, rawPath))
      .catch(() => undefined);
  }
  return ownArrayBuffer(state);
}

async function readImageFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new GuestImageMissingError(
        `guest image missing: ${path} (build it with: sudo bash images/guest/build.sh)`,
      );
    }
    throw err;
  }
}

interface Pending {
  id: number;
  label: string;
  resolve: (r: RunBytesResult) => void;
  reject: (e: Error) => void;
  /** Resolves when the guest's frame for this id came (or the wait was given up). */
  settled: () => void;
}

export class GuestMachine {
  readonly kernelRelease: string;
  /** Milliseconds from restore() to the machine running (state read, gunzip, v86 restore). */
  readonly restoreMs: number;
  /** What state.json says was prepared and baked into the saved machine. */
  readonly meta: StateMeta;

  private readonly emu: Emulator;
  private nextId = 1;
  private readonly parser: FrameParser;
  private readonly pending = new Map<number, Pending>();
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  /**
   * The guest's wall clock resumes at snapshot time (and stays behind: the kernel does not catch
   * up a jump that large), so the first request also sets it to the host's: `date -s @EPOCH`.
   */
  private clockSet = false;
  private paused = false;
  private dead: string | null = null;
  /** Work for the guest that the next request carries (defer()). */
  private deferred: DeferredWork[] = [];

  private readonly unsubscribe: () => void;

  private constructor(emu: Emulator, meta: StateMeta, restoreMs: number) {
    this.emu = emu;
    this.meta = meta;
    this.kernelRelease = meta.kernel;
    this.restoreMs = restoreMs;
    this.parser = new FrameParser(
      (e) => this.onAgentEvent(e),
      (line) => {
        // The printk timestamp ('[   55.5]') is left out: the message is what says what happened.
        if (PANIC.test(line))
          this.die(`the guest kernel panicked (${line.replace(/^\[[\s\d.]*\]/, '').trim()})`);
      },
    );
    this.unsubscribe = emu.onSerialByte((b) => this.parser.push(b));
  }

  /** Resumes the guest from its saved state. Fails with GuestImageMissingError if it was not built. */
  static async restore(paths: GuestImagePaths = guestImagePaths()): Promise<GuestMachine> {
    const t0 = performance.now();
    const [bios, metaText] = await Promise.all([readImageFile(paths.bios), readImageFile(paths.meta)]);
    const meta = parseMeta(metaText.toString('utf8'), paths.meta);
    // Read (or gunzipped on libuv's thread pool) while v86 compiles its wasm and sets the machine up.
    const state = loadState(paths.state);
    const emu = await startEmulator({
      bios: ownArrayBuffer(bios),
      memoryBytes: meta.memoryMiB * 1024 * 1024,
      initialState: state,
    });
    return new GuestMachine(emu, meta, performance.now() - t0);
  }

  /**
   * Runs a command in the guest. An argv array is exec'd as is (shell-quoted); a string is a sh
   * script. Resolves with the exit code whatever it is; rejects with GuestTimeoutError on timeout.
   * stdout and stderr are decoded as UTF-8 (see runBytes for binary output).
   */
  async run(cmd: string[] | string, opts: RunOptions = {}): Promise<RunResult> {
    const r = await this.runBytes(cmd, opts);
    const text = new TextDecoder();
    return { exitCode: r.exitCode, stdout: text.decode(r.stdout), stderr: text.decode(r.stderr) };
  }

  /** run() with stdout and stderr as bytes. */
  runBytes(cmd: string[] | string, opts: RunOptions = {}): Promise<RunBytesResult> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const script = typeof cmd === 'string' ? cmd : `exec ${cmd.map(shellQuote).join(' ')}`;
    const label = typeof cmd === 'string' ? cmd : cmd.join(' ');
    const shortLabel = label.length > 80 ? `${label.slice(0, 77)}...` : label;
    // Taken now, not when the request is sent: work deferred after this call waits for a later one.
    const carried = this.deferred;
    this.deferred = [];
    return new Promise<RunBytesResult>((resolveRun, rejectRun) => {
      const resolveOrFail =
        carried.length === 0
          ? resolveRun
          : (r: RunBytesResult) => {
              const failed = deferredFailure(r.exitCode, new TextDecoder().decode(r.stderr));
              if (failed === null) resolveRun(r);
              else rejectRun(new GuestError(failed));
            };
      const full = carried.length === 0 ? script : `${deferredScript(carried)}${script}`;
      this.queue = this.queue.then(() => this.send(full, shortLabel, timeoutMs, resolveOrFail, rejectRun));
    });
  }

  /**
   * Guest work whose answer nobody waits for: run at the start of the next request, before its
   * script (which does not run if the work fails: the request then fails naming `label`). Every
   * request thus still sees all earlier work done, and a snapshot's preparation or removal costs no
   * round trip of its own. `program` (the guest stage's `fs`) takes a list of operations: consecutive
   * work for the same program runs as one process. Dropped with the guest if no request follows.
   */
  defer(label: string, program: string[], ops: string[]): void {
    this.assertRunning();
    addDeferred(this.deferred, { label, program, ops });
  }

  /** Sends the deferred work now, in a request of its own (nothing when there is none). */
  async flush(opts: RunOptions = {}): Promise<void> {
    if (this.deferred.length === 0) return;
    const r = await this.runBytes(':', opts);
    if (r.exitCode !== 0) throw new GuestError(`deferred guest work failed (exit ${r.exitCode})`);
  }

  /**
   * x86 instructions the guest has executed, modulo 2^32: the difference of two readings (`>>> 0`)
   * measures guest work independently of the host's load (bench/emu).
   */
  get instructions(): number {
    return this.stopped ? 0 : this.emu.instructions();
  }

  /** The last 4 KiB the guest printed on its serial line outside agent frames (kernel, init). */
  get consoleOutput(): string {
    return this.parser.console;
  }

  /** Writes a file into the 9p share; the guest sees it under /mnt/host/<path>. */
  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    this.assertRunning();
    await this.emu.writeFile(path, typeof data === 'string' ? new TextEncoder().encode(data) : data);
  }

  /**
   * Resolves at the guest's next write into the 9p share of a file named `name` (any name when
   * null), or after `ms`: a host polling the share for a file the guest writes sleeps until then.
   */
  shareWrite(ms: number, name: ((n: string) => boolean) | null = null): Promise<void> {
    return new Promise<void>((done) => {
      const finish = () => {
        clearTimeout(timer);
        off();
        done();
      };
      const timer = setTimeout(finish, ms);
      const off = this.stopped
        ? () => undefined
        : this.emu.onShareWrite((n) => {
            if (name === null || name(n)) finish();
          });
    });
  }

  /** Makes a directory (and its parents) in the 9p share. */
  async mkdir(path: string): Promise<void> {
    this.assertRunning();
    await this.emu.mkdir(path);
  }

  /** Removes a file from the 9p share. Missing files are not an error. */
  async removeFile(path: string): Promise<void> {
    this.assertRunning();
    await this.emu.removeFile(path);
  }

  /** Reads a file from the 9p share (what the guest wrote under /mnt/host/<path>). */
  async readFile(path: string): Promise<Uint8Array> {
    this.assertRunning();
    try {
      return await this.emu.readFile(path);
    } catch (err) {
      throw new GuestError(
        `cannot read '${path}' from the guest share: ${(err as Error).message || 'not found'}`,
      );
    }
  }

  /**
   * Freezes the guest: an idle guest still costs about half a host core (the Debian kernel ticks at
   * 250 Hz and cannot go tickless), a paused one nothing. Processes in the guest do not run while
   * paused. The next run() resumes it (and sets the guest clock again). Waits for queued requests.
   */
  async pause(): Promise<void> {
    this.assertRunning();
    const paused = this.queue.then(async () => {
      if (this.paused || this.stopped) return;
      this.paused = true;
      await this.emu.pause();
    });
    this.queue = paused;
    await paused;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Why the guest is dead (then every request fails with GuestDeadError), or null while it is not. */
  get deadReason(): string | null {
    return this.dead;
  }

  /**
   * Fault injection for tests: stops the emulated CPU behind this object's back, as a guest that
   * hangs would (pause() instead is the orderly way, resumed by the next request).
   */
  async freezeCpu(): Promise<void> {
    this.assertRunning();
    await this.emu.pause();
  }

  /**
   * The guest cannot answer any more: fail what is in flight and every later request, and free the
   * emulator (its CPU loop and memory) right away.
   */
  private die(reason: string): void {
    if (this.dead !== null || this.stopped) return;
    this.dead = reason;
    for (const p of this.pending.values()) {
      p.reject(new GuestDeadError(`guest died while running '${p.label}': ${reason}`, true));
      p.settled();
    }
    this.pending.clear();
    void this.stop().catch(() => undefined);
  }

  /** Stops the emulator. Pending requests fail. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe();
    for (const p of this.pending.values()) {
      p.reject(new GuestError(`guest stopped before answering '${p.label}'`));
      p.settled();
    }
    this.pending.clear();
    await this.emu.destroy();
  }

  private assertRunning(): void {
    if (this.stopped) throw new GuestError('guest machine is stopped');
  }

  /** Sends one request and resolves when the agent is free again (frame received or given up). */
  private async send(
    script: string,
    label: string,
    timeoutMs: number,
    resolveRun: (r: RunBytesResult) => void,
    rejectRun: (e: Error) => void,
  ): Promise<void> {
    if (this.dead !== null) {
      rejectRun(new GuestDeadError(`guest is dead (${this.dead}); cannot run '${label}'`, false));
      return;
    }
    if (this.stopped) {
      rejectRun(new GuestError(`guest machine is stopped; cannot run '${label}'`));
      return;
    }
    if (this.paused) {
      this.paused = false;
      this.clockSet = false; // the guest clock stood still while paused
      await this.emu.resume();
    }
    const id = this.nextId++;
    if (!this.clockSet) {
      this.clockSet = true;
      script = setClockLine() + script;
    }
    const { payload, file } = requestPayload(id, script);
    const requestFile = file?.path ?? null;
    if (file) {
      try {
        await this.emu.writeFile(file.path, file.bytes);
      } catch (err) {
        rejectRun(new GuestError(`cannot pass '${label}' to the guest: ${(err as Error).message}`));
        return;
      }
    }
    await new Promise<void>((agentFree) => {
      let done = false;
      let graceTimer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        rejectRun(new GuestTimeoutError(label, timeoutMs));
        // ^C: the agent kills the command's process group and still sends the frame; wait for it
        // (bounded) so that the next request finds the agent reading again. No frame at all means
        // the agent or the emulated CPU is stuck: nothing more will come from this guest.
        this.emu.sendSerial(CANCEL);
        graceTimer = setTimeout(() => {
          this.pending.delete(id);
          this.die(`no answer to the cancel of '${label}' within ${CANCEL_GRACE_MS} ms (agent or CPU stuck)`);
          agentFree();
        }, CANCEL_GRACE_MS);
      }, timeoutMs);
      this.pending.set(id, {
        id,
        label,
        resolve: (r) => {
          clearTimeout(timer);
          if (!done) {
            done = true;
            resolveRun(r);
          }
        },
        reject: (e) => {
          clearTimeout(timer);
          if (!done) {
            done = true;
            rejectRun(e);
          }
        },
        settled: () => {
          clearTimeout(graceTimer);
          agentFree();
        },
      });
      this.emu.sendSerial(requestLine(id, timeoutMs, payload));
    });
    if (requestFile && !this.stopped) await this.emu.removeFile(requestFile).catch(() => undefined);
  }

  private onAgentEvent(event: AgentEvent): void {
    if (event.kind === 'ready') {
      // The agent died and busybox init respawned it. Between requests that is harmless; during one,
      // the request's processes may live on in the guest, untracked: only a fresh guest is clean.
      if (this.pending.size > 0) this.die('the guest agent died and was restarted');
      return;
    }
    const p = this.pending.get(event.id);
    if (!p) return; // a late answer to a request that already failed
    this.pending.delete(event.id);
    if (event.kind === 'malformed') {
      p.reject(new GuestError(`malformed answer from the guest agent for '${p.label}': ${event.reason}`));
    } else {
      p.resolve({ exitCode: event.exitCode, stdout: event.stdout, stderr: event.stderr });
    }
    p.settled();
  }
}
