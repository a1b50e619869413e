// Entry point: the guest starts first (boot.ts, a small chunk); the app element's chunk (lit,
// xterm.js, the kernel model: most of the code) is imported once the guest worker's start() runs.
// Its evaluation takes this main thread for about 0.3 s on a loaded machine, and a worker's start
// needs this thread too: loaded together, the worker came up 0.3 s later and the terminal was live
// 0.5 s later (bench/web, load 7 to 9). The cap keeps the app from waiting on a worker that is slow
// to start or never does. xterm.js's stylesheet is in the app's shadow root (strata-app.ts).
import { guestClient } from './boot.ts';

const WORKER_WAIT_MS = 1500;

void Promise.race([
  guestClient.workerStarted,
  new Promise((resolve) => setTimeout(resolve, WORKER_WAIT_MS)),
]).then(() => import('./components/strata-app.ts'));
