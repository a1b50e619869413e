// Work carried by the next agent request (backend-emu/src/deferred.ts), run by the host's sh the
// way the agent runs a request's script (no emulator needed).
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  addDeferred,
  deferredFailure,
  deferredScript,
  type DeferredWork,
} from '../../backend-emu/src/deferred.ts';

// A stand-in for `strata-confine fs`: one process per invocation, its ops in order, `fail` fails.
const PROGRAM = [
  '/bin/sh',
  '-c',
  'echo "pid $$"; for op; do [ "$op" != fail ] || { echo "op fail: refused" >&2; exit 1; }; echo "op $op"; done',
  'stage',
];

const run = (script: string) => spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8' });

describe('deferred guest work', () => {
  it('merges consecutive work of one program into one process and runs it before the script', () => {
    const list: DeferredWork[] = [];
    addDeferred(list, { label: 'preparing a', program: PROGRAM, ops: ['a1', "it's a2"] });
    addDeferred(list, { label: 'preparing b', program: PROGRAM, ops: ['b1'] });
    addDeferred(list, { label: 'other', program: ['/bin/echo'], ops: ['other op'] });
    expect(list.map((w) => w.label)).toEqual(['preparing a, preparing b', 'other']);
    const r = run(`${deferredScript(list)}echo script`);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('pid '))).toHaveLength(1);
    expect(lines.filter((l) => !l.startsWith('pid '))).toEqual([
      'op a1',
      "op it's a2",
      'op b1',
      'other op',
      'script',
    ]);
    expect(deferredFailure(r.status ?? -1, r.stderr)).toBeNull();
  });

  it('stops before the script when the work fails, and names the work', () => {
    const list: DeferredWork[] = [];
    addDeferred(list, { label: 'removing x', program: PROGRAM, ops: ['x1'] });
    addDeferred(list, { label: 'preparing y', program: PROGRAM, ops: ['fail', 'y2'] });
    const r = run(`${deferredScript(list)}echo script`);
    expect(r.status).toBe(125);
    expect(r.stdout).not.toContain('script');
    expect(r.stdout).not.toContain('op y2');
    expect(deferredFailure(r.status ?? -1, r.stderr)).toBe(
      'removing x, preparing y failed: op fail: refused',
    );
  });

  it('does not mistake a script of its own exiting 125 for failed work', () => {
    expect(deferredFailure(125, 'something else\n')).toBeNull();
    expect(deferredFailure(1, 'strata-deferred-failed x\n')).toBeNull();
    // Without work there is no prefix at all.
    expect(deferredScript([])).toBe('');
    expect(execFileSync('/bin/sh', ['-c', `${deferredScript([])}echo ok`], { encoding: 'utf8' })).toBe(
      'ok\n',
    );
  });
});
