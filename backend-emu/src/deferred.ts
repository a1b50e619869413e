// Guest work whose answer nobody waits for (a snapshot's preparation or removal), carried by the
// next request instead of a request of its own (docs/emulator.md, "Where the time goes"). Every
// request costs an agent round trip, a subshell fork and a frame, and the emulated CPU makes each
// of those count; a `run --rm` made five requests of which four were such work.
//
// The carried work runs first in the request's script, so every request still sees every earlier
// operation done. Consecutive items with the same program (`strata-confine fs`: a list of
// operations run in order) are merged into one process. If it fails, the request's own script does
// not run and its answer is exit 125 with a marker line on stderr; the host turns that into an error
// naming the carried work.
import { shellQuote as q } from './protocol.ts';

export interface DeferredWork {
  /** What it does, for the error message ("preparing snapshot 0123456789ab"). */
  label: string;
  /** The program and its subcommand; the ops are appended to it. */
  program: string[];
  ops: string[];
}

/** The line the script prints on stderr when carried work failed. */
export const DEFERRED_FAILED = 'strata-deferred-failed';
const FAILED_CODE = 125;

/** Appends `item` to `list`, merged into the last entry when it runs the same program. */
export function addDeferred(list: DeferredWork[], item: DeferredWork): void {
  const last = list[list.length - 1];
  if (
    last &&
    last.program.length === item.program.length &&
    last.program.every((p, i) => p === item.program[i])
  ) {
    list[list.length - 1] = {
      label: `${last.label}, ${item.label}`,
      program: last.program,
      ops: [...last.ops, ...item.ops],
    };
    return;
  }
  list.push({ ...item, ops: [...item.ops] });
}

/** Shell lines that run the work and stop the script (exit 125, marker on stderr) on a failure. */
export function deferredScript(list: DeferredWork[]): string {
  return list
    .map(
      (w) =>
        `${[...w.program, ...w.ops].map(q).join(' ')} || { printf '%s\\n' ${q(`${DEFERRED_FAILED} ${w.label}`)} >&2; exit ${FAILED_CODE}; }\n`,
    )
    .join('');
}

/**
 * The error text when the carried work failed (the answer's exit code and stderr), else null:
 * "LABEL failed: what the program said".
 */
export function deferredFailure(exitCode: number, stderr: string): string | null {
  if (exitCode !== FAILED_CODE) return null;
  const lines = stderr.split('\n');
  const marker = lines.findIndex((l) => l.startsWith(`${DEFERRED_FAILED} `));
  if (marker < 0) return null;
  const said = lines.slice(0, marker).join('\n').trim();
  return `${lines[marker]!.slice(DEFERRED_FAILED.length + 1)} failed${said ? `: ${said}` : ''}`;
}
