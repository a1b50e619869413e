// Imported first by main.ts: the guest worker (which downloads and restores the saved machine) starts
// before the app's chunk (lit, xterm.js, the kernel model) is loaded and evaluated, which takes a few
// hundred ms of the main thread on a busy machine.
import { GuestClient } from './guest-client.ts';
import { LIVE_MOUNTINFO } from './guest-scripts.ts';

export const guestClient = new GuestClient();
// bench/web reports when this ran (ms from navigation start), and when the worker's start() began.
performance.mark('strata-worker-created');
// Its first request also reads container c1's mount table for the live panel.
void guestClient.start(LIVE_MOUNTINFO);
