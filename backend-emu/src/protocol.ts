// The wire protocol of the guest agent (images/guest/agent), without the emulator: request encoding
// and a parser that turns the bytes of the serial line into frames.
//
//   host -> guest  one line: "<id> <timeout-ms> <script, bytes outside [A-Za-z0-9_./-] as \xHH>\n"
//                  or, for a long script left in the 9p share: "<id> <timeout-ms> @<path>\n"
//   guest -> host  "@@STRATA-BEGIN <id>@@\n<exit code>\n<base64 stdout>\n-\n<base64 stderr>\n@@STRATA-END <id>@@\n"
//   host -> guest  "\x03" (^C) cancels the running command: the agent kills its process group.
//   guest -> host  "@@STRATA-READY@@ <kernel release>\n" when the agent (re)starts.
// Base64 may be wrapped over several lines; lines outside a frame (kernel, init) are console noise.

/** Encodes a script for the request line: every byte outside [A-Za-z0-9_./-] becomes \xHH. */
export function encodePayload(script: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(script)) {
    const safe =
      (byte >= 0x30 && byte <= 0x39) || // 0-9
      (byte >= 0x41 && byte <= 0x5a) || // A-Z
      (byte >= 0x61 && byte <= 0x7a) || // a-z
      byte === 0x5f || // _
      byte === 0x2e || // .
      byte === 0x2f || // /
      byte === 0x2d; // -
    out += safe ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** Inverse of encodePayload, as the guest's `printf '%b'` does it (for tests). */
export function decodePayload(payload: string): Uint8Array {
  const bytes: number[] = [];
  for (let i = 0; i < payload.length; i++) {
    const hex = payload.slice(i + 2, i + 4);
    if (payload[i] === '\\' && payload[i + 1] === 'x' && /^[0-9a-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      bytes.push(payload.charCodeAt(i));
    }
  }
  return new Uint8Array(bytes);
}

/**
 * Longest encoded script sent on the serial line; longer ones go through the 9p share (in Node and
 * in the browser alike). Serial input costs the guest about 4,600 instructions a byte (an interrupt,
 * the tty, ash's `read` one byte per syscall) and about 0.7 ms of wall time at load 9, a script in
 * the share about 1.1 M instructions in all (measured 2026-12-07: 1,000 bytes inline 5.4 M
 * instructions, 3,000 through the share 1.9 M, `true` 0.8 M): the share wins from about 250 bytes.
 * The web page's first request (557 bytes) came back sooner through the share too (docs/web.md).
 */
export const INLINE_SCRIPT_MAX = 256;
/** Directory in the 9p share where the host leaves long request scripts (`@<path>` lines). */
export const REQUEST_DIR = '.strata-agent';

/** The line that sets the guest's clock to the host's (a restored guest's clock resumes at snapshot time). */
export function setClockLine(): string {
  return `date -s @${Math.round(Date.now() / 1000)} >/dev/null 2>&1\n`;
}

/**
 * What request `id` sends for `script`: the script encoded inline, or, over INLINE_SCRIPT_MAX (serial
 * input is slow: a few KB/s), `@<path>` with the file the caller writes into the 9p share first.
 */
export function requestPayload(
  id: number,
  script: string,
): { payload: string; file: { path: string; bytes: Uint8Array } | null } {
  const payload = encodePayload(script);
  if (payload.length <= INLINE_SCRIPT_MAX) return { payload, file: null };
  const path = `${REQUEST_DIR}/req-${id}.sh`;
  return { payload: `@${path}`, file: { path, bytes: new TextEncoder().encode(script) } };
}

/** One request line; `payload` is encodePayload()'s output or `@<path in the 9p share>`. */
export function requestLine(id: number, timeoutMs: number, payload: string): string {
  return `${id} ${timeoutMs} ${payload}\n`;
}

/** The ^C that makes the agent kill the running command. */
export const CANCEL = '\x03';

/** POSIX sh single-quoting. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

export type AgentEvent =
  | { kind: 'frame'; id: number; exitCode: number; stdout: Uint8Array; stderr: Uint8Array }
  | { kind: 'malformed'; id: number; reason: string }
  | { kind: 'ready'; kernelRelease: string };

const BEGIN = /^@@STRATA-BEGIN (\d+)@@$/;
const END = /^@@STRATA-END (\d+)@@$/;
const READY = /^@@STRATA-READY@@ (\S+)/;
const BASE64 = /^[A-Za-z0-9+/=]*$/;

/**
 * Turns serial output into agent events, one byte at a time. Work per byte is constant (a line is
 * looked at once, when its newline comes), so long outputs do not slow it down.
 */
export class FrameParser {
  private line = '';
  private frame: { id: number; lines: string[] } | null = null;
  private noise = '';

  constructor(
    private readonly onEvent: (event: AgentEvent) => void,
    /** Each line printed outside frames (kernel, init): lets the host notice a kernel panic. */
    private readonly onConsoleLine?: (line: string) => void,
  ) {}

  /** The last 4 KiB printed outside frames (kernel messages, init). */
  get console(): string {
    return this.noise;
  }

  push(byte: number): void {
    if (byte !== 10) {
      if (byte !== 13) this.line += String.fromCharCode(byte);
      return;
    }
    const line = this.line;
    this.line = '';
    if (this.frame) {
      const end = END.exec(line);
      if (end && Number(end[1]) === this.frame.id) {
        const { id, lines } = this.frame;
        this.frame = null;
        this.onEvent(parseFrame(id, lines));
        return;
      }
      const begin = BEGIN.exec(line);
      if (begin) {
        // A frame cut short (agent killed mid-frame): drop it, start the new one.
        this.onEvent({ kind: 'malformed', id: this.frame.id, reason: 'frame cut short' });
        this.frame = { id: Number(begin[1]), lines: [] };
        return;
      }
      this.frame.lines.push(line);
      return;
    }
    const begin = BEGIN.exec(line);
    if (begin) {
      this.frame = { id: Number(begin[1]), lines: [] };
      return;
    }
    const ready = READY.exec(line);
    if (ready) this.onEvent({ kind: 'ready', kernelRelease: ready[1] ?? '' });
    this.noise = (this.noise + line + '\n').slice(-4096);
    this.onConsoleLine?.(line);
  }

  pushAll(bytes: Iterable<number>): void {
    for (const b of bytes) this.push(b);
  }
}

function parseFrame(id: number, lines: string[]): AgentEvent {
  const sep = lines.indexOf('-', 1);
  const code = lines[0] ?? '';
  if (sep < 0 || !/^\d+$/.test(code)) return { kind: 'malformed', id, reason: 'no exit code or separator' };
  const out = lines.slice(1, sep).join('');
  const err = lines.slice(sep + 1).join('');
  if (!BASE64.test(out) || !BASE64.test(err)) return { kind: 'malformed', id, reason: 'bad base64' };
  return {
    kind: 'frame',
    id,
    exitCode: Number(code),
    stdout: base64Bytes(out),
    stderr: base64Bytes(err),
  };
}

/** Base64 to bytes with atob rather than Buffer, so the parser also runs in a browser worker. */
function base64Bytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
