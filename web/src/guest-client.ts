// The page's handle on the guest worker: starts it once, tracks its state for the UI, and serialises
// nothing itself (the worker's BrowserGuest already runs one request at a time, in order).
import { proxy, wrap, type Remote } from 'comlink';
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
    const worker = new Worker(new URL('./guest-worker.ts', import.meta.url), { type: 'module' });
    const remote = wrap<GuestWorkerApi>(worker);
    this.remote = remote;
    worker.addEventListener('error', (e) => this.fail(`the guest worker crashed: ${e.message}`, ''));
    this.readyPromise = remote
      .start(
        document.baseURI,
        firstScript,
        proxy((progress: Progress) => {
          if (this.state.kind === 'restoring') this.set({ kind: 'restoring', progress });
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
