// Entry point: the guest starts first (boot.ts, a small chunk), while the app element's chunk (lit,
// xterm.js, the kernel model: most of the code) is still loading; xterm.js's stylesheet is in the
// app's shadow root (strata-app.ts).
import './boot.ts';

void import('./components/strata-app.ts');
