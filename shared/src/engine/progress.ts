// Progress of long byte transfers (save, load, import), reported on a stream (the CLI's stderr):
// on a terminal one redrawn bar per layer, as `docker load` draws them; otherwise one plain line
// per layer once it is done, so logs and pipes get a readable record instead of control codes.

export interface ProgressTask {
  /** `n` more bytes went through. */
  advance(n: number): void;
  /** The transfer finished (prints the final line). */
  done(): void;
}

export interface ProgressReporter {
  /** A new transfer: `action` ("Loading layer"), `subject` (a digest) and its size when known. */
  begin(action: string, subject: string, total: number | null): ProgressTask;
}

/** What a TTY-or-not writable needs to offer (process.stderr does). */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const NOOP_TASK: ProgressTask = { advance: () => undefined, done: () => undefined };

/** Reports nothing (load -q, library use). */
export const silentProgress: ProgressReporter = { begin: () => NOOP_TASK };

/** Docker's byte sizes (decimal units, 3 significant digits): 2.1MB, 512B, 45.3kB. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v}B` : `${Number(v.toPrecision(3))}${units[u]}`;
}

/** "sha256:0123456789ab" -> "0123456789ab" (Docker's short form in progress lines). */
function shortSubject(subject: string): string {
  return subject.startsWith('sha256:') ? subject.slice(7, 19) : subject;
}

function bar(done: number, total: number, width: number): string {
  const filled = total > 0 ? Math.min(width, Math.floor((done / total) * width)) : width;
  return `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}]`;
}

/** Redraws at most every `intervalMs` on a terminal: a bar per chunk would cost more than the copy. */
export function streamProgress(out: ProgressOutput, intervalMs = 100): ProgressReporter {
  return {
    begin(action, subject, total) {
      let bytes = 0;
      let last = 0;
      const tty = out.isTTY === true;
      const draw = () => {
        const sizes = total !== null ? `${humanBytes(bytes)}/${humanBytes(total)}` : humanBytes(bytes);
        out.write(`\r\x1b[2K${shortSubject(subject)}: ${action} ${bar(bytes, total ?? bytes, 50)}  ${sizes}`);
      };
      return {
        advance(n) {
          bytes += n;
          if (!tty) return;
          const now = Date.now();
          if (now - last >= intervalMs) {
            last = now;
            draw();
          }
        },
        done() {
          if (tty) {
            draw();
            out.write('\n');
          } else {
            out.write(`${action} ${subject} ${humanBytes(bytes)}\n`);
          }
        },
      };
    },
  };
}

/** Passes a byte stream through, counting it into `task`. */
export async function* counted(
  source: AsyncIterable<Uint8Array>,
  task: ProgressTask,
): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const chunk of source) {
    task.advance(chunk.length);
    yield chunk;
  }
}
