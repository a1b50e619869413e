// The exit file a backend's monitor writes when a container's PID 1 ends (containers/<id>/exit in
// the native store, the same format inside the emulator): `code=N`, `signal=N`, `finished=SECS`,
// `oom=0|1`, one per line.
import type { ExitStatus } from './backend.js';

export function parseExitFile(text: string): ExitStatus {
  const kv = new Map(
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('=', 2) as [string, string]),
  );
  const signal = Number(kv.get('signal') ?? '0');
  return {
    exitCode: Number(kv.get('code') ?? '255'),
    signal: signal > 0 ? signal : null,
    finishedAt: new Date(Number(kv.get('finished') ?? '0') * 1000).toISOString(),
    oomKilled: kv.get('oom') === '1',
  };
}
