// What the page and the guest worker exchange through comlink (plain, structured-cloneable data).
import type { BrowserRunResult } from '../../backend-emu/src/browser-guest.ts';

export type { BrowserRunResult };

export interface Progress {
  phase: string;
  /** 0 to 1, for the progress bar. */
  fraction: number;
}

export interface GuestInfo {
  kernelRelease: string;
  /** When the worker's start() began, epoch ms (performance.timeOrigin + now): for bench/web. */
  startedAt: number;
  /** From start() to the first answer of the agent. */
  readyMs: number;
  /** When each restore phase began, ms from start() (download, decompress, v86 start, restore, agent). */
  phases: Array<{ phase: string; ms: number }>;
  /** What the first script given to start() printed (it runs in the same request as the first check). */
  first: BrowserRunResult;
}

/**
 * The terminal's serial line (the web snapshot's ttyS1, a shell in c1), as the worker posts it on the
 * tty port: `live` once the machine runs (the shell waits in read(2)), `none` when the saved machine
 * has no such line, then its output. The page posts keystrokes (Uint8Array) on the same port.
 */
export type TtyEvent = { kind: 'live' } | { kind: 'none' } | { kind: 'output'; bytes: Uint8Array };

export interface GuestWorkerApi {
  /**
   * Fetches the guest (the saved machine with progress, state.json, the BIOS, v86.wasm compiled as it
   * downloads), restores it and answers the first request, which runs `firstScript`. `tty` is the
   * terminal's line: a port of its own, one-way messages each way, instead of comlink calls (each a
   * request and a reply): a keystroke and its echo are one message each.
   */
  start(
    baseUrl: string,
    firstScript: string,
    onProgress: (p: Progress) => void,
    tty: MessagePort,
  ): Promise<GuestInfo>;
  run(script: string, timeoutMs: number): Promise<BrowserRunResult>;
  console(): Promise<string>;
}
