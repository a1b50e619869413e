// One helper for waiting on a v86 lifecycle event, used by both the Node host (v86-host.ts) and the
// browser worker's guest (browser-guest.ts). Type-only import: it adds nothing to a worker bundle.
import type { V86 } from 'v86';

/** Resolves the next time `emulator` emits `event`; the listener removes itself. */
export function onceEvent(emulator: V86, event: 'emulator-loaded' | 'emulator-started'): Promise<void> {
  return new Promise<void>((resolve) => {
    const listener = (): void => {
      emulator.remove_listener(event, listener);
      resolve();
    };
    emulator.add_listener(event, listener);
  });
}
