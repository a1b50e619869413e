// Entry point: xterm.js's stylesheet (global: the terminal lives in light DOM) and the app element.
import '@xterm/xterm/css/xterm.css';
import './components/strata-app.ts';
