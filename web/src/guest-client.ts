// The page's handle on the guest worker: starts it once, tracks its state for the UI, and serialises
// nothing itself (the worker's BrowserGuest already runs one request at a time, in order).
import { proxy, transfer, wrap, type Remote } from 'comlink';
import { fetchBytes } from './fetch-bytes.ts';
import type { BrowserRunResult, GuestInfo, GuestWorkerApi, Progress, TtyEvent } from './guest-api.ts';

export type GuestState =
  | { kind: 'restoring'; progress: Progress }
  | { kind: 'ready'; info: GuestInfo }
  | { kind: 'failed'; error: string; console: string };

/** The terminal's line into c1 (TtyEvent): not known yet, running, or missing from the saved machine. */
export type TtyState = 'pending' | 'live' | 'none';

/** Output of the terminal's line kept for a terminal that attaches late (the app's chunk loads after). */
const TTY_KEEP = 64 * 1024;

/** Compiles as it downloads (needs the server's application/wasm), else from the whole file. */
async function compileWasm(url: string): Promise<WebAssembly.Module> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  if (response.headers.get('content-type') === 'application/wasm') {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

export class GuestClient extends EventTarget {
  state: GuestState = { kind: 'restoring', progress: { phase: 'starting the worker', fraction: 0 } };
  /** Changes fire a 'tty' event. */
  tty: TtyState = 'pending';
  private remote: Remote<GuestWorkerApi> | null = null;
  private readyPromise: Promise<void> | null = null;
  private ttyOutput: Uint8Array[] = [];
  private ttyPort: MessagePort | null = null;
  private workerStartedNow: () => void = () => undefined;
  /** Resolves once the worker's start() runs (its first progress report), or when it failed. */
  readonly workerStarted = new Promise<void>((resolve) => (this.workerStartedNow = resolve));
  private ttyListener: ((bytes: Uint8Array) => void) | null = null;

  /**
   * Starts the worker and the guest; safe to call more than once. `firstScript` runs in the guest's
   * first request (its answer is in the ready state's info.first): one request less to wait for.
   */
  start(firstScript = 'true'): Promise<void> {
    if (this.readyPromise) return this.readyPromise;
    // The saved machine (9 MB) is fetched from here at once: a worker runs its start() only once its
    // own chunk (v86's JavaScript) is loaded, which took 1.5 s at load 10.
    let downloaded = 0;
    let phase = 'starting v86';
    let fraction = 0;
    const show = (): void => {
      if (this.state.kind !== 'restoring') return;
      const label =
        downloaded < 1 ? `downloading the saved machine (${Math.round(downloaded * 100)}%)` : phase;
      this.set({
        kind: 'restoring',
        progress: { phase: label, fraction: Math.max(fraction, downloaded * 0.6) },
      });
    };
    const at = (rel: string): string => new URL(rel, document.baseURI).href;
    // The BIOS and state.json (small) too: the worker's start() then has everything but the state.
    const files = Promise.all([
      fetch(at('guest/state.json')).then(async (r) => {
        if (!r.ok) throw new Error(`cannot load ${r.url}: HTTP ${r.status}`);
        return r.text();
      }),
      fetchBytes(at('guest/bios.bin')),
    ]);
    files.catch(() => undefined); // reported through start(), below
    // The progress bar at most every 100 ms: each update re-renders the app, and this main thread
    // reads the download's chunks (about 140) while it also loads the app's chunk.
    let shownAt = 0;
    const state = fetchBytes(at('guest/state.bin.zst'), (n, total) => {
      downloaded = total > 0 ? Math.min(n / total, 0.99) : 0.5;
      const now = performance.now();
      if (now - shownAt < 100) return;
      shownAt = now;
      show();
    }).then((b) => {
      downloaded = 1;
      performance.mark('strata-state-downloaded'); // bench/web: when the page had all of it
      return b;
    });
    state.catch(() => undefined); // reported through the worker's start(), below
    // v86's wasm (2 MB) is compiled here too, while the worker's chunk loads (a Module is cloned to
    // the worker, not compiled again); v86 would fetch it whole and compile it only in start().
    const wasm = compileWasm(at('v86/v86.wasm'));
    wasm.catch(() => undefined); // reported through start() too
    const ttyPort = new MessageChannel();
    ttyPort.port1.onmessage = (e: MessageEvent<TtyEvent>) => this.onTty(e.data);
    this.ttyPort = ttyPort.port1;
    const worker = new Worker(new URL('./guest-worker.ts', import.meta.url), { type: 'module' });
    const remote = wrap<GuestWorkerApi>(worker);
    this.remote = remote;
    worker.addEventListener('error', (e) => this.fail(`the guest worker crashed: ${e.message}`, ''));
    this.readyPromise = remote
      .start(
        document.baseURI,
        firstScript,
        proxy((progress: Progress) => {
          this.workerStartedNow();
          phase = progress.phase;
          fraction = progress.fraction;
          show();
        }),
        proxy(async () => {
          const b = await state;
          return transfer(b, [b]);
        }),
        transfer(ttyPort.port2, [ttyPort.port2]),
        proxy(() => wasm),
        proxy(async () => {
          const [stateJson, bios] = await files;
          return transfer({ stateJson, bios }, [bios]);
        }),
      )
      .then((info) => this.set({ kind: 'ready', info }))
      .catch(async (err: unknown) => {
        const console = await remote.console().catch(() => '');
        this.fail(err instanceof Error ? err.message : String(err), console);
      });
    return this.readyPromise;
  }

  get ready(): boolean {
    return this.state.kind === 'ready';
  }

  async run(script: string, timeoutMs = 30_000): Promise<BrowserRunResult> {
    if (!this.remote || this.state.kind !== 'ready') throw new Error('the guest is not running');
    return this.remote.run(script, timeoutMs);
  }

  /**
   * The terminal's line: `listener` gets what the shell printed so far, then each new piece. One
   * listener (the page has one terminal).
   */
  attachTty(listener: (bytes: Uint8Array) => void): void {
    this.ttyListener = listener;
    for (const b of this.ttyOutput) listener(b);
  }

  /** Keystrokes to the terminal's shell in c1 (queued in the worker until the machine runs). */
  ttyWrite(data: string): void {
    const bytes = new TextEncoder().encode(data);
    this.ttyPort?.postMessage(bytes, [bytes.buffer]);
  }

  private onTty(e: TtyEvent): void {
    if (e.kind === 'output') {
      this.ttyOutput.push(e.bytes);
      let kept = this.ttyOutput.reduce((n, b) => n + b.length, 0);
      while (kept > TTY_KEEP && this.ttyOutput.length > 1) kept -= this.ttyOutput.shift()?.length ?? 0;
      this.ttyListener?.(e.bytes);
      return;
    }
    // Timed for bench/web: when the terminal could first be typed into.
    if (e.kind === 'live') performance.mark('strata-tty-live');
    this.tty = e.kind;
    this.dispatchEvent(new Event('tty'));
  }

  private fail(error: string, console: string): void {
    if (this.state.kind === 'failed') return;
    this.workerStartedNow();
    this.set({ kind: 'failed', error, console });
    if (this.tty === 'pending') {
      // No shell will come: the terminal falls back to its line editor, which says why.
      this.tty = 'none';
      this.dispatchEvent(new Event('tty'));
    }
  }

  private set(state: GuestState): void {
    this.state = state;
    this.dispatchEvent(new Event('change'));
  }
}
