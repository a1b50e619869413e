// STRATA_TRACE=1 prints how long each phase of a command took (ms since the process started), to
// find where a `strata run` spends its time (bench/run-latency).
//
// The warm daemon (cli/src/native-daemon.ts) serves runs of clients whose environment it did not
// start with: it installs a router (setTraceRouter) that sends a traced request's lines to that
// request's client instead, on the client's clock. No node:async_hooks here: the web build
// loads this module too.
const enabled = typeof process !== 'undefined' && process.env?.STRATA_TRACE === '1';

/** Where a trace line goes for the work under way, or null: not traced. */
export type TraceRouter = () => ((label: string) => void) | null;

let router: TraceRouter | null = null;

export function setTraceRouter(r: TraceRouter | null): void {
  router = r;
}

export function trace(label: string): void {
  const routed = router?.();
  if (routed) routed(label);
  else if (enabled) process.stderr.write(traceLine(performance.now(), label));
}

/** A trace line as printed: `ms` since the start of the process whose clock it is. */
export function traceLine(ms: number, label: string): string {
  return `[trace] ${ms.toFixed(1).padStart(7)} ms  ${label}\n`;
}
