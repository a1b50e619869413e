// The page's handle on the guest worker: starts it once, tracks its state for the UI, and serialises
// nothing itself (the worker's BrowserGuest already runs one request at a time, in order).
import { proxy, transfer, wrap, type Remote } from 'comlink';
import { fetchBytes } from './fetch-bytes.ts';
import type { BrowserRunResult, GuestInfo, GuestWorkerApi, Progress } from './guest-api.ts';

export type GuestState =
  | { kind: 'restoring'; progress: Progress }
  | { kind: 'ready'; info: GuestInfo }
  | { kind: 'failed'; error: string; console: string };

export class GuestClient extends EventTarget {
  state: GuestState = { kind: 'restoring', progress: { phase: 'starting the worker', fraction: 0 } };
  private remote: Remote<GuestWorkerApi> | null = null;
  private readyPromise: Promise<void> | null = null;

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
    const state = fetchBytes(new URL('guest/state.bin.zst', document.baseURI).href, (n, total) => {
      downloaded = total > 0 ? Math.min(n / total, 0.99) : 0.5;
      show();
    }).then((b) => {
      downloaded = 1;
      return b;
    });
    state.catch(() => undefined); // reported through the worker's start(), below
    const worker = new Worker(new URL('./guest-worker.ts', import.meta.url), { type: 'module' });
    const remote = wrap<GuestWorkerApi>(worker);
    this.remote = remote;
    worker.addEventListener('error', (e) => this.fail(`the guest worker crashed: ${e.message}`, ''));
    this.readyPromise = remote
      .start(
        document.baseURI,
        firstScript,
        proxy((progress: Progress) => {
          phase = progress.phase;
          fraction = progress.fraction;
          show();
        }),
        proxy(async () => {
          const b = await state;
          return transfer(b, [b]);
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

  private fail(error: string, console: string): void {
    if (this.state.kind === 'failed') return;
    this.set({ kind: 'failed', error, console });
  }

  private set(state: GuestState): void {
    this.state = state;
    this.dispatchEvent(new Event('change'));
  }
}
