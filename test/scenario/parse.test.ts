// The scenario parser: what it accepts, and errors that name the file, the step and the field.
import { describe, expect, it } from 'vitest';
import {
  ScenarioError,
  parseScenario,
  parseScenarioText,
  scenarioToJson,
} from '../../shared/src/scenario/index.js';

function errorOf(doc: unknown): ScenarioError {
  try {
    parseScenario(doc, 'x.json');
  } catch (err) {
    if (err instanceof ScenarioError) return err;
    throw err;
  }
  throw new Error('expected a ScenarioError');
}

describe('scenario parser', () => {
  it('fills defaults: paths from the world root, modes, propagation, trees', () => {
    const s = parseScenario({
      layers: { A: { 'd/f': 'x', e: { type: 'dir', mode: '0700' } } },
      steps: [
        { op: 'unshare', ns: ['mnt'] },
        { op: 'mkdir', path: 'm' },
        { op: 'overlay', lower: ['A'], upper: 'u', work: 'w', target: 'm', expect: 'ok' },
        { op: 'chmod', path: 'm/d', mode: 448 },
      ],
    });
    expect(s.layers['/A']?.e).toEqual({ type: 'dir', mode: 0o700, opaque: false });
    expect(s.steps[0]).toEqual({ op: 'unshare', ns: ['mnt'], propagation: 'private' });
    expect(s.steps[1]).toEqual({ op: 'mkdir', path: '/m', mode: 0o755 });
    expect(s.trees).toEqual(['/m', '/u']);
    expect(s.expect).toEqual({ 2: 'ok' });
  });

  it('round-trips through scenarioToJson', () => {
    const s = parseScenario({
      steps: [{ op: 'mount', type: 'tmpfs', target: '/t', options: 'size=1m,ro', expect: 'ok' }],
    });
    const again = parseScenario(JSON.parse(JSON.stringify(scenarioToJson(s))));
    expect(again.steps).toEqual(s.steps);
    expect(again.expect).toEqual(s.expect);
  });

  it('names the file, the step index and the field', () => {
    const e = errorOf({ steps: [{ op: 'mkdir', path: '/a' }, { op: 'umount' }] });
    expect(e.message).toBe('x.json: steps[1].target: missing');
    expect(e.file).toBe('x.json');
    expect(e.where).toBe('steps[1].target');
  });

  it('rejects unknown ops, unknown fields, bad values', () => {
    expect(errorOf({ steps: [{ op: 'mkfs' }] }).message).toMatch(
      /^x\.json: steps\[0\]\.op: unknown op "mkfs"/,
    );
    expect(errorOf({ steps: [{ op: 'umount', target: '/a', lazy: true }] }).message).toMatch(
      /steps\[0\]\.lazy: unknown field/,
    );
    expect(errorOf({ steps: [{ op: 'chmod', path: '/a', mode: '9' }] }).message).toMatch(/steps\[0\]\.mode/);
    expect(errorOf({ steps: [{ op: 'unshare', ns: ['time'] }] }).message).toMatch(/unknown namespace "time"/);
    expect(errorOf({ steps: [{ op: 'mount', type: 'ext4', target: '/a' }] }).message).toMatch(
      /steps\[0\]\.type: unsupported filesystem/,
    );
    expect(errorOf({ steps: [{ op: 'overlay', lower: ['/a'], upper: '/u', target: '/m' }] }).message).toMatch(
      /steps\[0\]\.work: upper and work go together/,
    );
    expect(errorOf({ steps: [{ op: 'rmdir', path: '/a', expect: 'maybe' }] }).message).toMatch(
      /steps\[0\]\.expect/,
    );
    expect(errorOf({ layers: { A: { f: { type: 'fifo' } } }, steps: [] }).message).toBe(
      'x.json: layers.A["f"].type: unknown entry type "fifo" (file, dir, symlink, whiteout)',
    );
    expect(errorOf({ layers: { A: { '../f': 'x' } }, steps: [] }).where).toBe('layers.A["../f"]');
    expect(errorOf({ step: [] }).message).toMatch(/\(top\)\.step: unknown field/);
    expect(errorOf([]).message).toMatch(/must be a JSON object/);
  });

  it('reports JSON syntax errors as scenario errors', () => {
    expect(() => parseScenarioText('{"steps": [', 'bad.json')).toThrow(/^bad\.json: \(json\): /);
  });
});
