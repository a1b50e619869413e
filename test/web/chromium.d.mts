import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM: string;

export interface OfflineBrowser {
  context: BrowserContext;
  page: Page;
  /** Every request that was not to the origin (aborted). */
  offOrigin: string[];
  close(): Promise<void>;
}

export function launchOffline(opts: {
  origin: string;
  viewport: { width: number; height: number };
}): Promise<OfflineBrowser>;
