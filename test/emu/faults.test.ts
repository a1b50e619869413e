// Faults: a guest that hangs (agent stopped, emulated CPU frozen) or dies (agent killed, kernel
// panic) mid-request. Each must give a clear error within the request's timeout, and the session must
// recover by discarding the guest (its emulator destroyed) and restoring a fresh one from the snapshot,
// with no emulator, timer or guest process left behind. One session for the file; every fault costs a
// restore, which is the recovery under test. Fails (never skips) when the guest image is missing.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CANCEL_GRACE_MS, liveEmulators } from '../../backend-emu/src/index.ts';
import { EmuSession } from '../../backend-emu/src/emu-session.ts';
import { StrataError } from '../../shared/src/errors.ts';

let session: EmuSession;
let setupError: unknown = null;
let timersBefore = 0;
/** A restore takes 2 s on a quiet machine, 10 s and more when other test runs load the 2 cores. */
const TEST_TIMEOUT = 180_000;
/** Slack over a deadline for the host's event loop on a loaded machine. */
const SLACK_MS = 1_500;

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

beforeAll(async () => {
  try {
    timersBefore = timers();
    session = new EmuSession();
    await session.machine();
  } catch (err) {
    setupError = err;
  }
}, TEST_TIMEOUT);

beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  await session?.stop();
});

/** Leaves a file in the current guest's tmpfs: gone after a fresh restore. */
async function mark(): Promise<void> {
  await session.check('marking the guest', 'echo old > /run/fault-marker');
}

/** The session answers again, in a guest restored afresh (no marker), and only one emulator lives. */
async function expectRecovered(generationBefore: number): Promise<void> {
  const r = await session.run('after the fault', 'cat /run/fault-marker 2>&1; echo alive', 60_000);
  expect(r.stdout).toMatch(/No such file or directory\nalive\n$/);
  expect(session.generation).toBe(generationBefore + 1);
  expect(liveEmulators()).toBe(1);
  // Nothing in the fresh guest but its own agent: no request from the old guest lives on.
  const ps = await session.run('listing processes', 'ps -o args | grep -c "^sleep 6"; true');
  expect(ps.stdout).toBe('0\n');
}

/** Runs `script` expecting it to fail; returns the error and how long that took. */
async function failing(what: string, script: string, timeoutMs: number): Promise<[StrataError, number]> {
  const t0 = performance.now();
  const err: unknown = await session.run(what, script, timeoutMs).then(
    () => null,
    (e: unknown) => e,
  );
  const ms = performance.now() - t0;
  expect(err).toBeInstanceOf(StrataError);
  return [err as StrataError, ms];
}

describe('emu guest faults', () => {
  it(
    'agent stopped (SIGSTOP) mid-request: timeout error in time, then a fresh guest',
    async () => {
      await mark();
      const gen = session.generation;
      // $$ in the request's subshell is the agent itself: it stops and never frames an answer.
      const [err, ms] = await failing('stopping the agent', 'sleep 60 & kill -STOP $$; sleep 61', 2_000);
      expect(err.message).toBe('emu backend: stopping the agent: the guest did not answer within 2000 ms');
      expect(ms).toBeLessThan(2_000 + SLACK_MS);
      // The ^C that follows the timeout goes unanswered: after the grace period the guest is dead.
      const t0 = performance.now();
      await expectRecovered(gen);
      console.log(
        `agent stopped: error after ${Math.round(ms)} ms, recovered in ${Math.round(performance.now() - t0)} ms`,
      );
      expect(session.lastDeath).toMatch(
        /^no answer to the cancel of '.*' within 5000 ms \(agent or CPU stuck\)$/,
      );
    },
    TEST_TIMEOUT,
  );

  it(
    'emulated CPU frozen: timeout error in time, then a fresh guest',
    async () => {
      await mark();
      const gen = session.generation;
      await (await session.machine()).freezeCpu();
      const [err, ms] = await failing('echo on a frozen CPU', 'echo never', 2_000);
      expect(err.message).toBe('emu backend: echo on a frozen CPU: the guest did not answer within 2000 ms');
      expect(ms).toBeLessThan(2_000 + SLACK_MS);
      const t0 = performance.now();
      await expectRecovered(gen);
      // The recovery waited for the cancel's grace period, then restored.
      expect(performance.now() - t0).toBeGreaterThan(CANCEL_GRACE_MS - 2_000 - SLACK_MS);
      expect(session.lastDeath).toMatch(/\(agent or CPU stuck\)$/);
    },
    TEST_TIMEOUT,
  );

  it(
    'agent killed mid-request: clear error long before the timeout, then a fresh guest',
    async () => {
      await mark();
      const gen = session.generation;
      // busybox init respawns the agent; the request's sleep would live on, untracked, in that guest.
      const [err, ms] = await failing('killing the agent', 'sleep 60 & kill -KILL $$; sleep 61', 60_000);
      expect(err.message).toMatch(
        /^emu backend: killing the agent: guest died while running '.*': the guest agent died and was restarted; the guest was discarded, with the layers and containers in it; the next request restores a fresh one$/,
      );
      expect(ms).toBeLessThan(30_000);
      await expectRecovered(gen);
    },
    TEST_TIMEOUT,
  );

  it(
    'guest kernel panic (sysrq c): clear error with the panic line, then a fresh guest',
    async () => {
      await mark();
      const gen = session.generation;
      const [err, ms] = await failing(
        'crashing the kernel',
        'sleep 60 & echo c > /proc/sysrq-trigger',
        60_000,
      );
      expect(err.message).toMatch(
        /^emu backend: crashing the kernel: guest died while running '.*': the guest kernel panicked \(Kernel panic - not syncing: sysrq triggered crash\); the guest was discarded/,
      );
      expect(ms).toBeLessThan(30_000);
      console.log(`kernel panic: error after ${Math.round(ms)} ms`);
      await expectRecovered(gen);
    },
    TEST_TIMEOUT,
  );

  it(
    'stopping the session leaves no emulator and no timer behind',
    async () => {
      await session.stop();
      expect(liveEmulators()).toBe(0);
      // Give v86's last scheduled tick a moment to run out.
      await new Promise((r) => setTimeout(r, 200));
      expect(timers()).toBeLessThanOrEqual(timersBefore);
    },
    TEST_TIMEOUT,
  );
});
