// strata scenario run|compare|fuzz through the built CLI, as users run it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, strata } from '../helpers/strata.js';

const work = mkdtempSync(path.join(tmpdir(), 'strata-scenario-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const file = (name: string) => path.join(REPO, 'scenarios', name);

describe('strata scenario', () => {
  it('run --backend model prints the normalised result', () => {
    const r = strata(work, ['scenario', 'run', file('union-abc.json'), '--backend', 'model']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('namespace 0 (first process): mountinfo');
    expect(r.stdout).toMatch(/overlay overlay ro,lowerdir=\/A:\/B:\/C,redirect_dir=on/);
    expect(r.stdout).toContain('tree /union');
    expect(r.stdout).toMatch(/^ {2}f 0644 \/shared.txt 14 /m);
  });

  it('run --dump adds the layer stack: each visible file with its layer, whiteouts, opaque dirs', () => {
    const r = strata(work, ['scenario', 'run', file('union-abc.json'), '--dump']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      '## overlay on /union: layers, topmost first\n[0] lower /A\n    whiteout /gone.txt\n',
    );
    expect(r.stdout).toContain('[1] lower /B\n    opaque /opaque\n[2] lower /C\n');
    // shared.txt is in A and B: the merged view shows A's; the opaque dir shows only B's entry.
    expect(r.stdout).toContain('[0] f /shared.txt\n');
    expect(r.stdout).toContain('[1] d /opaque\n[1] f /opaque/from-b\n');
    const native = strata(work, ['scenario', 'run', file('union-abc.json'), '--dump', '--backend', 'native']);
    expect(native.code).toBe(125);
    expect(native.stderr).toContain('--dump: only the model can show its layers');
  });

  it('run --backend native gives the same output as the model', () => {
    const m = strata(work, [
      'scenario',
      'run',
      file('container-overlay.json'),
      '--backend',
      'model',
      '--json',
    ]);
    const n = strata(work, [
      'scenario',
      'run',
      file('container-overlay.json'),
      '--backend',
      'native',
      '--json',
    ]);
    expect(n.code).toBe(0);
    expect(JSON.parse(n.stdout)).toEqual(JSON.parse(m.stdout));
  });

  it('compare: agreement exits 0', () => {
    const r = strata(work, ['scenario', 'compare', file('pivot-root.json'), file('chroot.json')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('pivot-root.json: agree (model, native)');
    expect(r.stdout).toContain('2/2 agree');
  });

  it('compare: a difference (here an expectation neither meets) prints it and exits 1', () => {
    const f = path.join(work, 'wrong.json');
    writeFileSync(f, JSON.stringify({ steps: [{ op: 'rmdir', path: '/nothing', expect: 'ok' }] }));
    const r = strata(work, ['scenario', 'compare', f, '--backends', 'model,native']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('DIFFER');
    expect(r.stdout).toContain('step 0 expected ok, model gave ENOENT');
    expect(r.stdout).toContain('0/1 agree');
  });

  it('fuzz runs generated scenarios', () => {
    const r = strata(work, ['scenario', 'fuzz', '--seed', '40', '--count', '6']);
    expect(r.stdout).toContain('6/6 agree');
    expect(r.code).toBe(0);
  });

  it('run --kernel 6.1: the model answers as Linux 6.1; bad --kernel and --backend values exit 125', () => {
    const f = file('unbindable-copies.json');
    const as61 = strata(work, ['scenario', 'run', f, '--kernel', '6.1', '--json']);
    expect(as61.code).toBe(0);
    expect(JSON.parse(as61.stdout).outcomes[12]).toBe('EINVAL');
    const as618 = strata(work, ['scenario', 'run', f, '--json']);
    expect(JSON.parse(as618.stdout).outcomes[12]).toBe('ok');
    const bad = strata(work, ['scenario', 'run', f, '--kernel', '5.4']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toBe("strata: --kernel: unknown release '5.4': expected 6.18 or 6.1\n");
    const native = strata(work, ['scenario', 'run', f, '--backend', 'native', '--kernel', '6.1']);
    expect(native.code).toBe(125);
    expect(native.stderr).toContain('--kernel: only the model answers as a chosen kernel');
    const unknown = strata(work, ['scenario', 'compare', f, '--backends', 'model,qemu']);
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toContain("unknown scenario backend 'qemu': expected model, native, emu");
  });

  it('a bad scenario names file, step and field; exit 125', () => {
    const f = path.join(work, 'bad.json');
    writeFileSync(f, JSON.stringify({ steps: [{ op: 'bind', source: '/a' }] }));
    const r = strata(work, ['scenario', 'run', f]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(`strata: ${f}: steps[0].target: missing\n`);
  });
});
