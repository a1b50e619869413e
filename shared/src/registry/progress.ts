// Per-layer progress for transfers that run side by side (3 layers at once): on a terminal one
// line per layer, redrawn in place as docker draws push/pull; elsewhere plain lines, one per
// finished step (engine/progress.ts's formats and silent reporter).
import { humanBytes, silentProgress, type ProgressOutput, type ProgressTask } from '../engine/progress.js';

/** A layer's line: "<short>: <status> [bar] sizes". `status` changes (Waiting, Pushing, Pushed). */
export interface LayerLine {
  status(text: string): void;
  task(action: string, total: number | null): ProgressTask;
}

export interface LayerBoard {
  line(id: string): LayerLine;
}

function bar(done: number, total: number, width: number): string {
  const filled = total > 0 ? Math.min(width, Math.floor((done / total) * width)) : width;
  return `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}]`;
}

/** Lines on a TTY: each layer owns a row; a redraw moves the cursor up to it and back. */
function ttyBoard(out: ProgressOutput, intervalMs: number): LayerBoard {
  const rows: string[] = [];
  let last = 0;
  const render = (row: number, text: string) => {
    rows[row] = text;
    const up = rows.length - row;
    out.write(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
  };
  return {
    line(id) {
      const row = rows.length;
      rows.push('');
      out.write('\n');
      const short = id.startsWith('sha256:') ? id.slice(7, 19) : id;
      render(row, `${short}: Waiting`);
      return {
        status: (text) => render(row, `${short}: ${text}`),
        task(action, total) {
          let bytes = 0;
          const draw = () => {
            const sizes = total !== null ? `${humanBytes(bytes)}/${humanBytes(total)}` : humanBytes(bytes);
            render(row, `${short}: ${action} ${bar(bytes, total ?? bytes, 50)}  ${sizes}`);
          };
          return {
            advance(n) {
              bytes += n;
              const now = Date.now();
              if (now - last >= intervalMs) {
                last = now;
                draw();
              }
            },
            done: draw,
          };
        },
      };
    },
  };
}

/** Off a terminal: each status as a plain line (logs get a record, not control codes). */
function plainBoard(out: ProgressOutput): LayerBoard {
  return {
    line(id) {
      const short = id.startsWith('sha256:') ? id.slice(7, 19) : id;
      return {
        status: (text) => void out.write(`${short}: ${text}\n`),
        task: () => silentProgress.begin('', id, null),
      };
    },
  };
}

/**
 * `status` lines (Pushed, Layer already exists) go to `out` in both modes, as docker prints them;
 * `quiet` drops byte progress but keeps those lines.
 */
export function layerBoard(
  out: ProgressOutput,
  opts: { quiet?: boolean; intervalMs?: number } = {},
): LayerBoard {
  if (out.isTTY === true && opts.quiet !== true) return ttyBoard(out, opts.intervalMs ?? 100);
  return plainBoard(out);
}

/**
 * Runs `fn` over `items` with at most `limit` at once. The first failure fails the whole, once the
 * calls in flight have settled (none is started after it): the caller's cleanup then races nothing.
 */
export async function inParallel<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (next < items.length && failure === null) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== null) throw (failure as { error: unknown }).error;
  return results;
}
