// How the CLI reports a failed command, alone in its module: main.ts and the bundle-free entry of
// `pull` (pull-direct.ts) report alike.
import { StrataError } from '../../shared/src/errors.js';

/** A failed command as the CLI reports it: `strata: MESSAGE` (and the stack with --debug), exit code. */
export function errorReport(e: unknown, debug: boolean): { text: string; code: number } {
  const err = e instanceof Error ? e : null;
  const text = `strata: ${err?.message ?? String(e)}\n${debug && err ? `${err.stack}\n` : ''}`;
  return { text, code: e instanceof StrataError ? e.exitCode : 125 };
}

/** Whether this process was asked for stack traces (runCli reads the whole command line). */
export const debugRequested = (): boolean => process.argv.includes('--debug') || process.argv.includes('-D');
