// The guest agent's wire protocol, without an emulator (backend-emu/src/protocol.ts).

import { describe, expect, it } from 'vitest';
import {
  decodePayload,
  encodePayload,
  FrameParser,
  INLINE_SCRIPT_MAX,
  requestLine,
  requestPayload,
  shellQuote,
  type AgentEvent,
} from '../../backend-emu/src/index.ts';

const bytes = (s: string): number[] => [...Buffer.from(s, 'latin1')];
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function parse(serial: string): { events: AgentEvent[]; parser: FrameParser } {
  const events: AgentEvent[] = [];
  const parser = new FrameParser((e) => events.push(e));
  parser.pushAll(bytes(serial));
  return { events, parser };
}

describe('request encoding', () => {
  it('keeps the line free of spaces, quotes, newlines and backslashes, and round-trips any script', () => {
    const script = `printf 'a b\\n' "$HOME" ; echo é€ \\ \`x\`\n\ttab\r`;
    const payload = encodePayload(script);
    expect(payload).toMatch(/^[A-Za-z0-9_./\\-]+$/);
    expect(payload).not.toMatch(/[\s'"]/);
    expect(Buffer.from(decodePayload(payload)).toString('utf8')).toBe(script);
    expect(encodePayload('uname -r')).toBe('uname\\x20-r');
    // \xHH takes exactly two hex digits, so a literal hex digit right after one survives.
    expect(Buffer.from(decodePayload(encodePayload(' a'))).toString()).toBe(' a');
    expect(requestLine(7, 1000, 'true')).toBe('7 1000 true\n');
  });

  it('sends a script inline up to INLINE_SCRIPT_MAX encoded bytes, longer ones as a file in the share', () => {
    expect(requestPayload(3, 'uname -r')).toEqual({ payload: 'uname\\x20-r', file: null });
    const fits = 'x'.repeat(INLINE_SCRIPT_MAX);
    expect(requestPayload(3, fits)).toEqual({ payload: fits, file: null });
    const long = `echo ${'y'.repeat(INLINE_SCRIPT_MAX)}`;
    const r = requestPayload(9, long);
    expect(r.payload).toBe('@.strata-agent/req-9.sh');
    expect(r.file?.path).toBe('.strata-agent/req-9.sh');
    expect(Buffer.from(r.file!.bytes).toString()).toBe(long);
  });

  it('shell-quotes argv elements', () => {
    expect(shellQuote('plain-arg_1.txt')).toBe('plain-arg_1.txt');
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('$HOME')).toBe("'$HOME'");
  });
});

describe('FrameParser', () => {
  it('decodes a frame among console noise, with CRs and wrapped base64', () => {
    const out = 'x'.repeat(100);
    const wrapped =
      b64(out)
        .match(/.{1,76}/g)
        ?.join('\r\n') ?? '';
    const { events, parser } = parse(
      `[   12.3] some kernel line\r\n@@STRATA-BEGIN 3@@\n2\n${wrapped}\n-\n${b64('oops\n')}\n@@STRATA-END 3@@\nafter\n`,
    );
    expect(events).toHaveLength(1);
    const [frame] = events;
    expect(frame).toMatchObject({ kind: 'frame', id: 3, exitCode: 2 });
    if (frame?.kind !== 'frame') throw new Error('not a frame');
    expect(Buffer.from(frame.stdout).toString()).toBe(out);
    expect(Buffer.from(frame.stderr).toString()).toBe('oops\n');
    expect(parser.console).toBe('[   12.3] some kernel line\nafter\n');
  });

  it('handles empty outputs, ready lines, and the end marker of another id inside a frame', () => {
    const { events } = parse(
      '\n@@STRATA-READY@@ 6.1.0-50-686\n@@STRATA-BEGIN 1@@\n0\n-\n@@STRATA-END 9@@\n@@STRATA-END 1@@\n',
    );
    expect(events[0]).toEqual({ kind: 'ready', kernelRelease: '6.1.0-50-686' });
    // "@@STRATA-END 9@@" is not base64: the frame is reported malformed rather than mis-decoded.
    expect(events[1]).toMatchObject({ kind: 'malformed', id: 1 });
    const ok = parse('@@STRATA-BEGIN 4@@\n0\n-\n@@STRATA-END 4@@\n').events;
    expect(ok).toEqual([
      { kind: 'frame', id: 4, exitCode: 0, stdout: new Uint8Array(), stderr: new Uint8Array() },
    ]);
  });

  it('reports a frame cut short by a new one, and a frame without exit code', () => {
    const { events } = parse('@@STRATA-BEGIN 5@@\n0\nQUJD\n@@STRATA-BEGIN 6@@\nnope\n-\n@@STRATA-END 6@@\n');
    expect(events).toEqual([
      { kind: 'malformed', id: 5, reason: 'frame cut short' },
      { kind: 'malformed', id: 6, reason: 'no exit code or separator' },
    ]);
  });

  it('stays linear on long outputs', () => {
    const big =
      b64('y'.repeat(3_000_000))
        .match(/.{1,76}/g)
        ?.join('\n') ?? '';
    const t0 = performance.now();
    const { events } = parse(`@@STRATA-BEGIN 8@@\n0\n${big}\n-\n@@STRATA-END 8@@\n`);
    // Linear parsing takes well under a second; rescanning the buffer per line (52k lines of 4 MB)
    // would take minutes. The bound is wide so a loaded machine cannot fail it.
    expect(performance.now() - t0).toBeLessThan(30_000);
    expect(events[0]?.kind === 'frame' && events[0].stdout.length).toBe(3_000_000);
  });
});
