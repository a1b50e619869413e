// The Web Worker that owns the v86 guest: the emulator's CPU loop runs here, off the page's main
// thread, so the UI stays responsive while the guest restores and runs. comlink exposes GuestWorkerApi.
import { expose } from 'comlink';
import { BrowserGuest, type BrowserRunResult } from '../../backend-emu/src/browser-guest.ts';
import type { GuestInfo, GuestWorkerApi, Progress } from './guest-api.ts';
import { fetchBytes } from './fetch-bytes.ts';

let guest: BrowserGuest | null = null;

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
  async start(
    baseUrl: string,
    firstScript: string,
    onProgress: (p: Progress) => void,
    savedMachine: () => Promise<ArrayBuffer>,
  ): Promise<GuestInfo> {
    const t0 = performance.now();
    // When each phase began (ms from start): the bench reports where the time goes.
    const phases: Array<{ phase: string; ms: number }> = [];
    const mark = (p: string): void => {
      phases.push({ phase: p, ms: performance.now() - t0 });
    };
    const show = (phase: string, fraction: number): void => onProgress({ phase, fraction });
    const at = (rel: string): string => new URL(rel, baseUrl).href;
    // The page began downloading the saved machine before this worker existed (guest-client.ts);
    // v86 starts (wasm compile, machine set-up) while it is still coming.
    const state = savedMachine().then((b) => {
      mark('saved machine downloaded');
      return b;
    });
    const [meta, bios] = await Promise.all([
      fetch(at('guest/state.json')).then(async (r) => parseStateMeta(await r.text())),
      fetchBytes(at('guest/bios.bin')),
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
        mark(p);
        show(p, 0.6 + 0.1 * ++step);
      },
    );
    mark('waiting for the guest agent');
    show('waiting for the guest agent', 0.95);
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
