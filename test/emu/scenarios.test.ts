// Scenarios on the emu guest's kernel (Debian 12's Linux 6.1 in v86): the write-ups' experiments
// (scenarios/*.json) compared across the model, this machine's kernel and the guest's, a seeded batch
// of generated scenarios in the guest with zero disagreements, and the CLI forms. One guest for the
// file, restored from the snapshot; fails (never skips) when the guest image, the i386 executor or
// root are missing. The model answers as the kernel it is compared with (docs/scenarios.md).
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { release } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { GuestMachine } from '../../backend-emu/src/index.ts';
import { EmuScenarioRunner } from '../../backend-emu/src/emu-scenario.ts';
import { runOnKernelBatch } from '../../backend-native/src/scenario-native.ts';
import { diffResults, modelRelease, parseScenarioText, runOnModel } from '../../shared/src/scenario/index.ts';
import type { Scenario, ScenarioResult } from '../../shared/src/scenario/index.ts';
import { generateScenario } from '../../shared/src/scenario/random.ts';
import { REPO, requireNativePrerequisites, strata, tempRoot } from '../helpers/strata.ts';
import { disagreements, unmet } from '../scenario/checks.ts';
import { restoreGuestOnce } from './engine-fixture.ts';

/** Generated scenarios in the guest, one request: about 0.13 s each at load 2, 0.3 s at 6.5, 0.65 s at 16. */
const COUNT = Number(process.env.SCENARIO_EMU_FUZZ_COUNT ?? 150);
const FIRST = Number(process.env.SCENARIO_EMU_FUZZ_SEED ?? 1);

const DIR = path.join(REPO, 'scenarios');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const scenarios: Scenario[] = files.map((f) => parseScenarioText(readFileSync(path.join(DIR, f), 'utf8'), f));

let guest: GuestMachine;
let runner: EmuScenarioRunner;
restoreGuestOnce((g) => {
  guest = g;
  runner = new EmuScenarioRunner(g);
}, requireNativePrerequisites);

function ok(r: ScenarioResult | Error | undefined): ScenarioResult {
  if (r === undefined || r instanceof Error) throw r ?? new Error('no result');
  return r;
}

describe('scenarios on the emu guest kernel', () => {
  it('the guest runs Linux 6.1, which the model answers as', () => {
    expect(guest.meta.kernel).toMatch(/^6\.1\./);
    expect(modelRelease(guest.meta.kernel)).toBe('6.1');
  });

  it('scenarios/*.json: model, native and emu agree; expectations met', { timeout: 300_000 }, async () => {
    const [native, emu] = await Promise.all([runOnKernelBatch(scenarios), runner.run(scenarios)]);
    const host = modelRelease(release());
    scenarios.forEach((s, i) => {
      const n = ok(native[i]);
      const e = ok(emu[i]);
      expect(diffResults(runOnModel(s, host), n, ['model', 'native']), s.name).toEqual([]);
      expect(diffResults(runOnModel(s, '6.1'), e, ['model', 'emu']), s.name).toEqual([]);
      expect(unmet(s, n), `${s.name} (native)`).toEqual([]);
      expect(unmet(s, e), `${s.name} (emu)`).toEqual([]);
    });
    // What differs between the two kernels, and is modelled (docs/scenarios.md, "Linux 6.1 and 6.18").
    const at = (name: string) => files.indexOf(name);
    const copies = at('unbindable-copies.json');
    expect(ok(emu[copies]).outcomes[12]).toBe('EINVAL');
    expect(ok(emu[copies]).namespaces[1]?.mountinfo).toMatch(/ \/a rw,relatime unbindable - tmpfs/);
    const union = at('union-abc.json');
    expect(ok(emu[union]).namespaces[0]?.mountinfo).toMatch(/ - overlay overlay ro,lowerdir=\/A:\/B:\/C$/m);
    if (host === '6.18') {
      expect(ok(native[copies]).outcomes[12]).toBe('ok');
      expect(ok(native[union]).namespaces[0]?.mountinfo).toMatch(/lowerdir=\/A:\/B:\/C,redirect_dir=on$/m);
    }
    // The experiments themselves, as the guest's kernel shows them.
    const tmp = ok(emu[at('tmpfs-in-new-namespace.json')]);
    expect(tmp.namespaces[0]?.mountinfo).not.toContain('/tmp');
    expect(tmp.namespaces[1]?.mountinfo).toMatch(/ \/tmp rw,relatime - tmpfs tmpfs rw,size=1024k$/m);
    expect(ok(emu[at('container-overlay.json')]).trees['/container/diff']).toContain('w /app/run.sh');
    expect(ok(emu[at('pivot-root.json')]).namespaces[1]?.mountinfo.trim().split('\n')).toHaveLength(1);
  });

  it(
    `${COUNT} generated seeds from ${FIRST} in the guest: zero disagreements`,
    { timeout: 900_000 },
    async () => {
      const batch = Array.from({ length: COUNT }, (_, i) => generateScenario(FIRST + i));
      const started = Date.now();
      const emu = await runner.run(batch);
      console.log(`${COUNT} scenarios in the guest in ${Date.now() - started} ms (one request)`);
      const failures = await disagreements(batch, emu, (c) => runner.run(c), '6.1', 'emu');
      expect(failures.join('\n\n')).toBe('');
    },
  );

  it(
    'the CLI: scenario compare --backends model,native,emu and scenario run --backend emu through one emu daemon, or without',
    { timeout: 300_000 },
    async () => {
      // The CLI's emu batches go to the store's emu daemon, whose guest serves every command: this
      // file's one rests meanwhile.
      await guest.pause();
      const work = tempRoot('scenario-emu');
      const socket = path.join(work, 'emu', 'daemon.sock');
      onTestFinished(() => {
        strata(work, ['--backend', 'emu', 'emu-daemon', 'stop']);
        rmSync(work, { recursive: true, force: true });
      });
      const paths = files.map((f) => path.join(DIR, f));
      const cmp = strata(work, ['scenario', 'compare', ...paths, '--backends', 'model,native,emu'], {
        timeout: 240_000,
      });
      expect(cmp.stderr).toBe('');
      expect(cmp.stdout).toMatch(
        /^model answers as Linux 6\.\d+ for native \(.*\), Linux 6\.1 for emu \(6\.1\./,
      );
      expect(cmp.stdout).toContain('union-abc.json: agree (model, native, emu)');
      expect(cmp.stdout).toContain(`${files.length}/${files.length} agree`);
      expect(cmp.code).toBe(0);
      const file = path.join(DIR, 'union-abc.json');
      const emu = strata(work, ['scenario', 'run', file, '--backend', 'emu', '--json'], { timeout: 240_000 });
      expect(emu.stderr).toBe('');
      expect(emu.code).toBe(0);
      const model = strata(work, [
        'scenario',
        'run',
        file,
        '--backend',
        'model',
        '--kernel',
        '6.1',
        '--json',
      ]);
      expect(JSON.parse(emu.stdout)).toEqual(JSON.parse(model.stdout));
      expect(JSON.parse(emu.stdout).trees['/union']).toContain('d 0755 /opaque');
      // One daemon (one guest) served both commands and still runs.
      const daemonLog = () => readFileSync(path.join(work, 'emu', 'daemon.log'), 'utf8');
      expect(daemonLog().match(/listening on/g)).toHaveLength(1);
      expect(existsSync(socket)).toBe(true);
      expect(strata(work, ['--backend', 'emu', 'emu-daemon', 'stop']).code).toBe(0);
      expect(existsSync(socket)).toBe(false);
      // STRATA_EMU_DAEMON=0: a guest of the command's own, the same result, and no daemon started.
      const own = strata(work, ['scenario', 'run', file, '--backend', 'emu', '--json'], {
        timeout: 240_000,
        env: { ...process.env, STRATA_EMU_DAEMON: '0' },
      });
      expect(own.stderr).toBe('');
      expect(JSON.parse(own.stdout)).toEqual(JSON.parse(emu.stdout));
      expect(existsSync(socket)).toBe(false);
      expect(daemonLog().match(/listening on/g)).toHaveLength(1);
    },
  );
});
