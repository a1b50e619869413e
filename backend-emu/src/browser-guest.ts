// The guest for a browser (a Web Worker): the same saved machine and agent protocol as GuestMachine,
// but fed from fetched bytes instead of files. guest.ts and v86-host.ts import node:fs, node:zlib and
// node:module at the top, so a worker bundle cannot include them; this module uses only web APIs
// (fetch by the caller, DecompressionStream, atob via protocol.ts) and is the web app's one door to v86.

import { V86 } from 'v86';
import {
  CANCEL,
  FrameParser,
  REQUEST_DIR,
  requestLine,
  requestPayload,
  setClockLine,
  shellQuote,
  type AgentEvent,
} from './protocol.ts';
import { machineOptions } from './machine-options.ts';
import { onceEvent } from './v86-events.ts';

export interface BrowserGuestAssets {
  /** SeaBIOS image the snapshot was taken with. */
  bios: ArrayBuffer;
  /**
   * v86's save_state(), gzipped or zstd-compressed (v86 takes a zstd state as is and decompresses it
   * in its wasm). A promise lets the download overlap v86's start.
   */
  stateGz: ArrayBuffer | Promise<ArrayBuffer>;
  /** URL of v86.wasm, served by the same origin. */
  wasmUrl: string;
  /**
   * v86.wasm already compiled (or being compiled) by the caller, e.g. by the page while the worker's
   * own chunk still loads: v86 then only instantiates it, and wasmUrl is not fetched.
   */
  wasmModule?: Promise<WebAssembly.Module>;
  memoryMiB: number;
  kernelRelease: string;
  /**
   * The saved machine has a second UART (COM2) with a shell on it (the web snapshot's terminal line):
   * v86 gets one, and `onTty` the bytes the guest writes there, batched, from the moment it runs.
   */
  tty?: { onOutput: (bytes: Uint8Array) => void };
}

export interface BrowserRunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Wall time of the request, milliseconds. */
  ms: number;
}

export class BrowserGuestError extends Error {
  override name = 'BrowserGuestError';
}

/** Gunzips with the platform's DecompressionStream: native code, off the JavaScript heap's hot path. */
export async function gunzip(data: ArrayBuffer): Promise<ArrayBuffer> {
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Response(stream).arrayBuffer();
}

/** zstd's frame magic, as v86's restore_state() tests it. */
function isZstd(data: ArrayBuffer): boolean {
  return data.byteLength >= 4 && new DataView(data).getUint32(0, true) === 0xfd2fb528;
}

/** v86's wasm_fn: its imports, instantiated on a module compiled elsewhere. */
function instantiateWith(
  module: Promise<WebAssembly.Module>,
): (imports: WebAssembly.Imports) => Promise<WebAssembly.Exports> {
  return async (imports) => (await WebAssembly.instantiate(await module, imports)).exports;
}

/**
 * COM2's output, per byte from v86's CPU loop, handed on in one array per loop slice: a shell's
 * prompt or a command's output is then one message to the page, not one per byte.
 */
function ttyOutput(emulator: V86, onOutput: (bytes: Uint8Array) => void): void {
  let pending: number[] = [];
  emulator.add_listener('serial1-output-byte', (b: number) => {
    if (pending.length === 0) {
      queueMicrotask(() => {
        const bytes = Uint8Array.from(pending);
        pending = [];
        onOutput(bytes);
      });
    }
    pending.push(b);
  });
}

/** v86's internal 9p filesystem: only what writing a request file needs (checked at run time). */
interface Fs9p {
  SearchPath(path: string): { id: number; parentid: number };
  CreateDirectory(name: string, parentId: number): number;
}

function isFs9p(value: unknown): value is Fs9p {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v['SearchPath'] === 'function' && typeof v['CreateDirectory'] === 'function';
}

interface Pending {
  label: string;
  started: number;
  resolve: (r: BrowserRunResult) => void;
  reject: (e: Error) => void;
}

export class BrowserGuest {
  readonly kernelRelease: string;
  readonly restoreMs: number;
  private readonly emulator: V86;
  private readonly parser: FrameParser;
  private pending: { id: number; p: Pending } | null = null;
  private queue: Promise<void> = Promise.resolve();
  private nextId = 1;
  private clockSet = false;
  private stopped = false;

  private constructor(emulator: V86, kernelRelease: string, restoreMs: number) {
    this.emulator = emulator;
    this.kernelRelease = kernelRelease;
    this.restoreMs = restoreMs;
    this.parser = new FrameParser((e) => this.onEvent(e));
    emulator.add_listener('serial0-output-byte', (b: number) => this.parser.push(b));
  }

  /**
   * Resumes the saved machine. `onPhase` reports what is happening, for a progress display: the
   * restore is a few seconds of mostly opaque work (wasm compile, gunzip, v86's memory rescan).
   */
  static async restore(assets: BrowserGuestAssets, onPhase: (phase: string) => void): Promise<BrowserGuest> {
    const t0 = performance.now();
    onPhase('decompressing the saved machine');
    // Started before v86 so that the gunzip overlaps the wasm compile.
    const state = Promise.resolve(assets.stateGz).then((data) => (isZstd(data) ? data : gunzip(data)));
    // Not left unhandled while v86 starts: a failed download is thrown by the await below.
    state.catch(() => undefined);
    onPhase('starting v86 (compiling its WebAssembly)');
    const emulator = new V86({
      ...machineOptions({
        wasmPath: assets.wasmUrl,
        bios: assets.bios,
        memoryBytes: assets.memoryMiB * 1024 * 1024,
        autostart: false,
        uart1: assets.tty !== undefined,
      }),
      ...(assets.wasmModule ? { wasm_fn: instantiateWith(assets.wasmModule) } : {}),
    });
    if (assets.tty) ttyOutput(emulator, assets.tty.onOutput);
    try {
      await onceEvent(emulator, 'emulator-loaded');
      onPhase('restoring the saved machine');
      await emulator.restore_state(await state);
      const started = onceEvent(emulator, 'emulator-started');
      await emulator.run();
      await started;
    } catch (err) {
      await emulator.destroy();
      throw err;
    }
    return new BrowserGuest(emulator, assets.kernelRelease, performance.now() - t0);
  }

  /** Runs a sh script (or an argv, exec'd) in the guest; one at a time, in order. */
  run(cmd: string | string[], timeoutMs = 30_000): Promise<BrowserRunResult> {
    const script = typeof cmd === 'string' ? cmd : `exec ${cmd.map(shellQuote).join(' ')}`;
    const label = (typeof cmd === 'string' ? cmd : cmd.join(' ')).slice(0, 80);
    return new Promise<BrowserRunResult>((resolve, reject) => {
      this.queue = this.queue.then(() => this.send(script, label, timeoutMs, resolve, reject));
    });
  }

  /** Types into the second serial line (the web terminal's tty); see BrowserGuestAssets.tty. */
  ttyInput(bytes: Uint8Array): void {
    if (!this.stopped) this.emulator.serial_send_bytes(1, bytes);
  }

  /** The last 4 KiB printed outside agent frames (kernel, init): for the error panel. */
  get console(): string {
    return this.parser.console;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.pending?.p.reject(new BrowserGuestError('guest stopped'));
    this.pending = null;
    await this.emulator.destroy();
  }

  private async send(
    script: string,
    label: string,
    timeoutMs: number,
    resolve: (r: BrowserRunResult) => void,
    reject: (e: Error) => void,
  ): Promise<void> {
    if (this.stopped) {
      reject(new BrowserGuestError(`guest stopped; cannot run '${label}'`));
      return;
    }
    const id = this.nextId++;
    if (!this.clockSet) {
      // The clock resumes at snapshot time: set it, as GuestMachine does, so `date` and mtimes make sense.
      this.clockSet = true;
      script = setClockLine() + script;
    }
    const { payload, file } = requestPayload(id, script);
    if (file) {
      this.mkdirs(REQUEST_DIR);
      await this.emulator.create_file(file.path, file.bytes);
    }
    await new Promise<void>((agentFree) => {
      const started = performance.now();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new BrowserGuestError(`guest did not answer '${label}' within ${timeoutMs} ms`));
        // ^C: the agent kills the command's process group and still sends a frame; give it 3 s.
        this.emulator.serial0_send(CANCEL);
        setTimeout(() => {
          if (this.pending?.id === id) this.pending = null;
          agentFree();
        }, 3_000);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        agentFree();
      };
      this.pending = {
        id,
        p: {
          label,
          started,
          resolve: (r) => {
            done();
            if (!timedOut) resolve(r);
          },
          reject: (e) => {
            done();
            if (!timedOut) reject(e);
          },
        },
      };
      this.emulator.serial0_send(requestLine(id, timeoutMs, payload));
    });
  }

  private mkdirs(dir: string): void {
    const fs: unknown = (this.emulator as unknown as { fs9p?: unknown }).fs9p;
    if (!isFs9p(fs)) throw new BrowserGuestError('v86 has no 9p filesystem (or its API changed)');
    if (fs.SearchPath(dir).id === -1) fs.CreateDirectory(dir, 0);
  }

  private onEvent(event: AgentEvent): void {
    const cur = this.pending;
    if (event.kind === 'ready') {
      // busybox init respawned the agent: what was in flight is lost.
      if (cur) {
        this.pending = null;
        cur.p.reject(new BrowserGuestError(`guest agent restarted while running '${cur.p.label}'`));
      }
      return;
    }
    if (!cur || cur.id !== event.id) return; // a late answer to a request that timed out
    this.pending = null;
    if (event.kind === 'malformed') {
      cur.p.reject(new BrowserGuestError(`malformed answer from the guest agent: ${event.reason}`));
      return;
    }
    const text = new TextDecoder();
    cur.p.resolve({
      exitCode: event.exitCode,
      stdout: text.decode(event.stdout),
      stderr: text.decode(event.stderr),
      ms: performance.now() - cur.p.started,
    });
  }
}
