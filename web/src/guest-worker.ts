// The Web Worker that owns the v86 guest: the emulator's CPU loop runs here, off the page's main
// thread, so the UI stays responsive while the guest restores and runs. comlink exposes GuestWorkerApi.
import { expose } from 'comlink';
import type { BrowserGuest, BrowserRunResult } from '../../backend-emu/src/browser-guest.ts';
import { compileWasm, fetchBytes } from './fetch-bytes.ts';
import type { GuestInfo, GuestWorkerApi, Progress, TtyEvent } from './guest-api.ts';

/** This module's body runs once its own small chunk (comlink, fetch helpers) is evaluated. */
const evaluatedAt = performance.now();
/**
 * v86's JavaScript (368 KB) is a chunk of its own, loaded from here at once: start() runs, and the
 * guest's downloads begin, while it is still loading. With v86 in this chunk, start() ran only once
 * all of it was fetched and evaluated.
 */
const v86Side = import('../../backend-emu/src/browser-guest.ts').then((m) => {
  v86EvaluatedAt = performance.now();
  return m;
});
v86Side.catch(() => undefined); // thrown by start()
let v86EvaluatedAt = NaN;

let guest: BrowserGuest | null = null;

function parseStateMeta(text: string): { memoryMiB: number; kernel: string; tty: boolean } {
  const v: unknown = JSON.parse(text);
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    if (typeof o['memoryMiB'] === 'number' && typeof o['kernel'] === 'string') {
      // web.tty: the web snapshot's terminal line (images/guest/web-snapshot.mjs); always ttyS1.
      const web = o['web'];
      const tty =
        typeof web === 'object' && web !== null && (web as Record<string, unknown>)['tty'] === 'ttyS1';
      return { memoryMiB: o['memoryMiB'], kernel: o['kernel'], tty };
    }
  }
  throw new Error('guest/state.json: not a guest state description');
}

const api: GuestWorkerApi = {
  async start(
    baseUrl: string,
    firstScript: string,
    onProgress: (p: Progress) => void,
    tty: MessagePort,
  ): Promise<GuestInfo> {
    const t0 = performance.now();
    // When each phase began (ms from start): the bench reports where the time goes.
    // The two before start() (negative): the worker's thread began fetching its chunk (its time
    // origin), its chunk evaluated. comlink's call to start() came after.
    const phases: Array<{ phase: string; ms: number }> = [
      { phase: 'worker thread up', ms: -t0 },
      { phase: "worker's chunk evaluated", ms: evaluatedAt - t0 },
    ];
    const mark = (p: string): void => {
      phases.push({ phase: p, ms: performance.now() - t0 });
    };
    // The bar: the download (up to 0.6) while it lasts, else the current phase; v86 is set up while
    // the download may still run, so both are kept and the bar never goes back.
    let downloaded = 0;
    let phase = 'starting v86';
    let fraction = 0;
    const report = (): void => {
      fraction = Math.max(fraction, downloaded * 0.6);
      const label =
        downloaded < 1 ? `downloading the saved machine (${Math.round(downloaded * 100)}%)` : phase;
      onProgress({ phase: label, fraction });
    };
    const show = (p: string, f: number): void => {
      phase = p;
      fraction = Math.max(fraction, f);
      report();
    };
    // At once: the page loads its app's chunk only after this (main.ts).
    report();
    const post = (e: TtyEvent, transfers: Transferable[] = []): void => tty.postMessage(e, transfers);
    // Keystrokes typed before the machine runs are held: the terminal is usable (and typed into) at once.
    let typed: Uint8Array[] | null = [];
    tty.onmessage = (e: MessageEvent<Uint8Array>) => {
      if (typed) typed.push(e.data);
      else guest?.ttyInput(e.data);
    };
    const at = (rel: string): string => new URL(rel, baseUrl).href;
    // All four at once, in this thread: the page's main thread, which soon evaluates the app's chunk,
    // is needed for none of them. The saved machine may still be coming while v86 is set up.
    let shownAt = 0;
    const state = fetchBytes(at('guest/state.bin.zst'), (n, total) => {
      // At most every 100 ms: each report re-renders the page's status bar.
      const now = performance.now();
      if (now - shownAt < 100 || total <= 0) return;
      shownAt = now;
      downloaded = Math.min(n / total, 0.99);
      report();
    }).then((b) => {
      mark('saved machine downloaded');
      downloaded = 1;
      report();
      return b;
    });
    state.catch(() => undefined); // thrown by BrowserGuest.restore's await
    const wasm = compileWasm(at('v86/v86.wasm'));
    wasm.catch(() => undefined); // thrown by v86's start (wasm_fn)
    const [stateJson, bios] = await Promise.all([
      fetch(at('guest/state.json')).then(async (r) => {
        if (!r.ok) throw new Error(`cannot load ${r.url}: HTTP ${r.status}`);
        return r.text();
      }),
      fetchBytes(at('guest/bios.bin')),
    ]);
    const meta = parseStateMeta(stateJson);
    const { BrowserGuest } = await v86Side;
    phases.push({ phase: "v86's JavaScript evaluated", ms: v86EvaluatedAt - t0 });
    let step = 0;
    guest = await BrowserGuest.restore(
      {
        bios,
        stateGz: state,
        wasmUrl: at('v86/v86.wasm'),
        wasmModule: wasm,
        memoryMiB: meta.memoryMiB,
        kernelRelease: meta.kernel,
        ...(meta.tty
          ? {
              tty: {
                onOutput: (bytes: Uint8Array) => post({ kind: 'output', bytes }, [bytes.buffer]),
              },
            }
          : {}),
      },
      (p) => {
        mark(p);
        show(p, 0.6 + 0.1 * ++step);
      },
    );
    mark('waiting for the guest agent');
    show('waiting for the guest agent', 0.95);
    // The terminal's shell already waits on its line in the saved machine: usable from now on, while
    // the agent's first request below still runs.
    if (meta.tty) {
      post({ kind: 'live' });
      for (const b of typed ?? []) guest.ttyInput(b);
    } else {
      post({ kind: 'none' });
    }
    typed = null;
    // One request, as each costs forks in the emulated CPU: it also sets the guest clock, proves the
    // agent answers (the kernel release, read without a fork) and runs the page's first script.
    const r = await guest.run(
      `read -r k < /proc/sys/kernel/osrelease; echo "Linux $k"\n${firstScript}`,
      60_000,
    );
    const nl = r.stdout.indexOf('\n');
    mark('running');
    show('running', 1);
    return {
      kernelRelease: r.stdout.slice(0, nl < 0 ? undefined : nl).trim(),
      startedAt: performance.timeOrigin + t0,
      readyMs: performance.now() - t0,
      phases,
      first: { ...r, stdout: nl < 0 ? '' : r.stdout.slice(nl + 1) },
    };
  },
  async run(script: string, timeoutMs: number): Promise<BrowserRunResult> {
    if (!guest) throw new Error('the guest is not running');
    return guest.run(script, timeoutMs);
  },
  console(): Promise<string> {
    return Promise.resolve(guest?.console ?? '');
  },
};

expose(api);
