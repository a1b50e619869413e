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
  async start(baseUrl: string, onProgress: (p: Progress) => void): Promise<GuestInfo> {
    const t0 = performance.now();
    const at = (rel: string): string => new URL(rel, baseUrl).href;
    const meta = parseStateMeta(await (await fetch(at('guest/state.json'))).text());
    onProgress({ phase: 'downloading the saved machine', fraction: 0 });
    const [bios, stateGz] = await Promise.all([
      fetchBytes(at('guest/bios.bin'), () => undefined),
      fetchBytes(at('guest/state.bin.gz'), (n, total) =>
        onProgress({
          phase: 'downloading the saved machine',
          fraction: total > 0 ? (n / total) * 0.5 : 0.25,
        }),
      ),
    ]);
    let step = 0;
    guest = await BrowserGuest.restore(
      { bios, stateGz, wasmUrl: at('v86/v86.wasm'), memoryMiB: meta.memoryMiB, kernelRelease: meta.kernel },
      (phase) => onProgress({ phase, fraction: 0.5 + 0.15 * ++step }),
    );
    onProgress({ phase: 'waiting for the guest agent', fraction: 0.95 });
    // The first request also sets the guest clock; uname proves the agent answers. The saved machine
    // holds the emu backend's store, a tmpfs on /var/lib/strata (docs/emulator.md): the demo keeps its
    // own layout on the root tmpfs (c1's start hard-links /bin/busybox), so that mount goes first.
    const r = await guest.run('umount -l /var/lib/strata 2>/dev/null; uname -sr', 20_000);
    onProgress({ phase: 'running', fraction: 1 });
    return { kernelRelease: r.stdout.trim(), readyMs: performance.now() - t0 };
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
