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

export interface GuestWorkerApi {
  /** `savedMachine` gives the saved machine's bytes, which the page started downloading first. */
  start(
    baseUrl: string,
    firstScript: string,
    onProgress: (p: Progress) => void,
    savedMachine: () => Promise<ArrayBuffer>,
  ): Promise<GuestInfo>;
  run(script: string, timeoutMs: number): Promise<BrowserRunResult>;
  console(): Promise<string>;
}
