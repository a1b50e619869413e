// STRATA_TRACE=1 prints how long each phase of a command took (ms since the process started), to
// find where a `strata run` spends its time (bench/run-latency).
const enabled = typeof process !== 'undefined' && process.env?.STRATA_TRACE === '1';

export function trace(label: string): void {
  if (enabled) process.stderr.write(`[trace] ${performance.now().toFixed(1).padStart(7)} ms  ${label}\n`);
}
