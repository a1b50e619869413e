// Every scenario in scenarios/ gives the same normalised result on the model and on the real kernel
// (root, overlayfs; fails, never skips, without them), and meets its own "expect" outcomes.
import { readFileSync, readdirSync } from 'node:fs';
import { release } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffResults, modelRelease, parseScenarioText, runOnModel } from '../../shared/src/scenario/index.js';
import type { Scenario } from '../../shared/src/scenario/index.js';
import { runOnKernelBatch } from '../../backend-native/src/scenario-native.js';
import { REPO } from '../helpers/strata.js';
import { unmet } from './checks.js';

const DIR = path.join(REPO, 'scenarios');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const scenarios: Scenario[] = files.map((f) => parseScenarioText(readFileSync(path.join(DIR, f), 'utf8'), f));

describe('scenarios/*.json: model and real kernel agree', () => {
  it('has the write-ups experiments', () => {
    for (const f of [
      'tmpfs-in-new-namespace.json',
      'chroot.json',
      'union-abc.json',
      'container-overlay.json',
      'pivot-root.json',
    ])
      expect(files).toContain(f);
  });

  it('every file: same normalised result, expectations met', async () => {
    const real = await runOnKernelBatch(scenarios);
    scenarios.forEach((s, i) => {
      const r = real[i];
      if (r instanceof Error || r === undefined) throw r ?? new Error('no result');
      const m = runOnModel(s, modelRelease(release()));
      expect(diffResults(m, r, ['model', 'native']), s.name).toEqual([]);
      expect(unmet(s, m), `${s.name} (model)`).toEqual([]);
      expect(unmet(s, r), `${s.name} (native)`).toEqual([]);
    });
  });

  it('shows what the experiments are about', () => {
    const byName = new Map(scenarios.map((s) => [s.name, runOnModel(s)]));
    const tmp = byName.get('tmpfs-in-new-namespace.json');
    // The host namespace has only the world's root; the new one also has the tmpfs on /tmp.
    expect(tmp?.namespaces[0]?.mountinfo).not.toContain('/tmp');
    expect(tmp?.namespaces[1]?.mountinfo).toMatch(/ \/tmp rw,relatime - tmpfs tmpfs rw,size=1024k$/m);
    const union = byName.get('union-abc.json')?.trees['/union'];
    expect(union).toContain('d 0755 /opaque');
    expect(union).not.toContain(expect.stringContaining('/opaque/from-c'));
    expect(union).not.toContain(expect.stringContaining('/gone.txt'));
    const ctr = byName.get('container-overlay.json')?.trees['/container/diff'];
    expect(ctr).toContain('w /app/run.sh');
    expect(ctr).toContain('d 0755 /var/cache/apt opaque');
    const pivot = byName.get('pivot-root.json');
    expect(pivot?.namespaces[1]?.mountinfo.trim().split('\n')).toHaveLength(1);
  });
});
