// Entry point: the guest starts first (boot.ts), then the app element (xterm.js's stylesheet is in
// its shadow root, see strata-app.ts).
import './boot.ts';
import './components/strata-app.ts';
