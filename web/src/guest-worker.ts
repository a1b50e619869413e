// The Web Worker that owns the v86 guest: the emulator's CPU loop runs here, off the page's main
// thread, so the UI stays responsive while the guest restores and runs. comlink exposes GuestWorkerApi.
import { expose } from 'comlink';
import { BrowserGuest, type BrowserRunResult } from '../../backend-emu/src/browser-guest.ts';
import type { GuestInfo, GuestWorkerApi, Progress } from './guest-api.ts';

let guest: BrowserGuest | null = null;

/** Fetches one asset from the page's own origin, reporting bytes as they come. */
async function fetchBytes(url: string, onBytes: (n: number, total: number) => void): Promise<ArrayBuffer> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`cannot load ${url}: HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.byteLength;
    onBytes(received, total);
  }
  const out = new Uint8Array(received);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out.buffer;
}

function parseStateMeta(text: string): { memoryMiB: number; kernel: string } {
  const v: unknown = JSON.parse(text);
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    if (typeof o['memoryMiB'] === 'number' && typeof o['kernel'] === 'string') {
      return { memoryMiB: o['memoryMiB'], kernel: o['kernel'] };
    }
  }
  throw new Error('guest/state.json: not a guest state description');
}

const api: GuestWorkerApi = {
  async start(baseUrl: string, firstScript: string, onProgress: (p: Progress) => void): Promise<GuestInfo> {
    const t0 = performance.now();
    // When each phase began (ms from start): the bench reports where the time goes.
    const phases: Array<{ phase: string; ms: number }> = [];
    let phase = 'starting v86';
    let downloaded = 0;
    const show = (fraction: number): void =>
      onProgress({
        phase: downloaded < 1 ? `downloading the saved machine (${Math.round(downloaded * 100)}%)` : phase,
        fraction,
      });
    const mark = (p: string): void => {
      phases.push({ phase: p, ms: performance.now() - t0 });
    };
    const at = (rel: string): string => new URL(rel, baseUrl).href;
    // All at once: the saved machine's download overlaps v86's start (wasm compile, machine set-up).
    const state = fetchBytes(at('guest/state.bin.zst'), (n, total) => {
      downloaded = total > 0 ? n / total : 0.5;
      show(downloaded * 0.6);
    }).then((b) => {
      downloaded = 1;
      mark('saved machine downloaded');
      return b;
    });
    const [meta, bios] = await Promise.all([
      fetch(at('guest/state.json')).then(async (r) => parseStateMeta(await r.text())),
      fetchBytes(at('guest/bios.bin'), () => undefined),
    ]);
    let step = 0;
    guest = await BrowserGuest.restore(
      {
        bios,
        stateGz: state,
        wasmUrl: at('v86/v86.wasm'),
        memoryMiB: meta.memoryMiB,
        kernelRelease: meta.kernel,
      },
      (p) => {
        phase = p;
        mark(p);
        show(0.6 + 0.1 * ++step);
      },
    );
    phase = 'waiting for the guest agent';
    mark(phase);
    show(0.95);
    // One request, as each costs forks in the emulated CPU: it also sets the guest clock, proves the
    // agent answers (the kernel release, read without a fork) and runs the page's first script.
    const r = await guest.run(
      `read -r k < /proc/sys/kernel/osrelease; echo "Linux $k"\n${firstScript}`,
      60_000,
    );
    const nl = r.stdout.indexOf('\n');
    mark('running');
    show(1);
    return {
      kernelRelease: r.stdout.slice(0, nl < 0 ? undefined : nl).trim(),
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
