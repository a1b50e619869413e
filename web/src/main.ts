// Entry point: the app element (xterm.js's stylesheet is in its shadow root, see strata-app.ts).
import './components/strata-app.ts';
