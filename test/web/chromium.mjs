// Debian's chromium through playwright-core, as the browser test and bench/web both drive it: a fresh
// profile (cold cache), headless, and every request that leaves the origin aborted and recorded.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

// Headless without a sandbox (root), a GPU, QUIC or any of chromium's own background traffic.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launches chromium on a fresh profile; requests not to `origin` are aborted and listed in
 * `offOrigin`. Throws, naming the package, when chromium is missing. `close()` also removes the profile.
 */
export async function launchOffline({ origin, viewport }) {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} missing: apt-get install -y chromium (scripts/setup.mjs)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-chromium-'));
  // playwright passes the profile to chromium as --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport,
    args: ARGS,
  });
  const offOrigin = [];
  const prefix = origin.replace(/\/$/, '') + '/';
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(prefix)) return route.continue();
    offOrigin.push(url);
    return route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    offOrigin,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
