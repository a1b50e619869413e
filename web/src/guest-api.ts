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
  /** From start() to the first answer of the agent. */
  readyMs: number;
}

export interface GuestWorkerApi {
  start(baseUrl: string, onProgress: (p: Progress) => void): Promise<GuestInfo>;
  run(script: string, timeoutMs: number): Promise<BrowserRunResult>;
  console(): Promise<string>;
}
