// The page's handle on the guest worker: starts it once, tracks its state for the UI, and serialises
// nothing itself (the worker's BrowserGuest already runs one request at a time, in order).
import { proxy, transfer, wrap, type Remote } from 'comlink';
import type { BrowserRunResult, GuestInfo, GuestWorkerApi, Progress, TtyEvent } from './guest-api.ts';
import { TTY_DEVICE } from './guest-scripts.ts';

export type GuestState =
  | { kind: 'restoring'; progress: Progress }
  | { kind: 'ready'; info: GuestInfo }
  | { kind: 'failed'; error: string; console: string };

/** The terminal's line into c1 (TtyEvent): not known yet, running, or missing from the saved machine. */
export type TtyState = 'pending' | 'live' | 'none';

/** Output of the terminal's line kept for a terminal that attaches late (the app's chunk loads after). */
const TTY_KEEP = 64 * 1024;

export class GuestClient extends EventTarget {
  state: GuestState = { kind: 'restoring', progress: { phase: 'starting the worker', fraction: 0 } };
  /** Changes fire a 'tty' event. */
  tty: TtyState = 'pending';
  private remote: Remote<GuestWorkerApi> | null = null;
  private readyPromise: Promise<void> | null = null;
  private ttyOutput: Uint8Array[] = [];
  private ttyPort: MessagePort | null = null;
  /** c1's tty size: wanted (`rows R cols C`), set in the guest, a request in flight. */
  private winsize = '';
  private winsizeSet = '';
  private winsizeBusy = false;
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
          if (this.state.kind === 'restoring') this.set({ kind: 'restoring', progress });
        }),
        transfer(ttyPort.port2, [ttyPort.port2]),
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

  /**
   * The terminal's size, for c1's tty: a serial line carries no window size, so the agent sets it
   * (`stty -F`, whose TIOCSWINSZ also sends the shell SIGWINCH), once the guest is ready and after
   * each change. One request at a time; the last size wins.
   */
  ttyResize(cols: number, rows: number): void {
    this.winsize = `rows ${rows} cols ${cols}`;
    void this.sendWinsize();
  }

  private async sendWinsize(): Promise<void> {
    if (this.winsizeBusy || this.state.kind !== 'ready' || this.tty !== 'live') return;
    const want = this.winsize;
    if (want === this.winsizeSet) return;
    this.winsizeBusy = true;
    try {
      const r = await this.run(`stty -F /dev/${TTY_DEVICE} ${want}`, 30_000);
      if (r.exitCode === 0) this.winsizeSet = want;
    } catch {
      // The terminal still works; its shell edits for a wrong width.
    } finally {
      this.winsizeBusy = false;
    }
    if (this.winsize !== this.winsizeSet && this.winsize !== want) void this.sendWinsize();
  }

  private set(state: GuestState): void {
    this.state = state;
    this.dispatchEvent(new Event('change'));
    if (state.kind === 'ready') void this.sendWinsize();
  }
}
