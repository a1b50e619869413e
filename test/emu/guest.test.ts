// The emulator guest (images/guest, backend-emu): one v86 machine per file, resumed from the
// snapshot that `bash images/guest/build.sh` saves. Fails (never skips) when that image is missing.

import { describe, expect, it } from 'vitest';
import {
  GuestTimeoutError,
  GUEST_HOST_MOUNT,
  INLINE_SCRIPT_MAX,
  type GuestMachine,
} from '../../backend-emu/src/index.ts';
import { restoreGuestOnce } from './engine-fixture.ts';

let guest: GuestMachine;
restoreGuestOnce((g) => (guest = g));

describe('emulator guest', () => {
  it('restores from the snapshot quickly and runs uname -r', async () => {
    // About 1.2 s on a quiet machine; the bound only catches a broken restore (a cold boot takes 12 s
    // or more), since other test runs share the 2 cores.
    expect(guest.restoreMs).toBeLessThan(10_000);
    const t0 = performance.now();
    const r = await guest.run(['uname', '-r']);
    const firstMs = performance.now() - t0;
    expect(r).toEqual({ exitCode: 0, stdout: `${guest.kernelRelease}\n`, stderr: '' });
    expect(r.stdout).toMatch(/^6\.1\.0-\d+-686\n$/);
    console.log(`first command ${Math.round(firstMs)} ms after restore`);
    // The guest clock was set from the host's on that first request (it resumed at snapshot time).
    const clock = await guest.run(['date', '+%s']);
    expect(Math.abs(Number(clock.stdout) - Date.now() / 1000)).toBeLessThan(5);
  });

  it('returns exit codes, stdout and stderr separately, byte for byte', async () => {
    const r = await guest.run(`printf 'a b\\n\\tc' ; printf 'é€ err' >&2; exit 3`);
    expect(r).toEqual({ exitCode: 3, stdout: 'a b\n\tc', stderr: 'é€ err' });
    const argv = await guest.run(['printf', '%s|', "it's", '$HOME', 'a b', '']);
    expect(argv.stdout).toBe("it's|$HOME|a b||");
    const missing = await guest.run(['no-such-command']);
    expect(missing.exitCode).toBe(127);
    const binary = await guest.runBytes(`printf '\\000\\001\\377\\n'`);
    expect([...binary.stdout]).toEqual([0, 1, 255, 10]);
    // A long script goes through the 9p share (serial input is slow); a long output comes back framed.
    const big = 'x'.repeat(INLINE_SCRIPT_MAX * 4);
    const echoed = await guest.run(`cat <<'EOF'\n${big}\nEOF\nls /mnt/host/.strata-agent | wc -l`);
    expect(echoed.stdout).toBe(`${big}\n1\n`);
    expect((await guest.run('ls /mnt/host/.strata-agent | wc -l')).stdout).toBe('0\n');
  });

  it('round-trips small commands in milliseconds', async () => {
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await guest.run(['true']);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const median = times[10] ?? 0;
    console.log(
      `round trip of 'true': median ${median.toFixed(1)} ms, max ${(times[19] ?? 0).toFixed(1)} ms`,
    );
    expect(median).toBeLessThan(1_000);
  });

  it('pauses and resumes on the next request, with the clock set again', async () => {
    const cpuShare = async (ms: number): Promise<number> => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, ms));
      const used = process.cpuUsage(c0);
      return (used.user + used.system) / 1000 / (performance.now() - t0);
    };
    const idle = await cpuShare(1_000);
    await guest.pause();
    expect(guest.isPaused).toBe(true);
    const paused = await cpuShare(1_000);
    console.log(`host CPU: idle guest ${idle.toFixed(2)} core, paused ${paused.toFixed(2)}`);
    // Not asserted: CPU shares on a shared 2-core machine are too noisy (typically 0.2 to 0.45 core
    // idle, under 0.05 paused when measured alone).
    const r = await guest.run('echo awake; date +%s');
    expect(guest.isPaused).toBe(false);
    const [awake, clock] = r.stdout.split('\n');
    expect(awake).toBe('awake');
    expect(Math.abs(Number(clock) - Date.now() / 1000)).toBeLessThan(5);
  });

  it('shares files with the guest through 9p (writeFile / readFile)', async () => {
    await guest.writeFile('in/deep/hello.txt', 'first version, longer than the second\n');
    await guest.writeFile('in/deep/hello.txt', 'hello from the host\n');
    const r = await guest.run(['cat', `${GUEST_HOST_MOUNT}/in/deep/hello.txt`]);
    expect(r.stdout).toBe('hello from the host\n');
    const w = await guest.run(`printf 'guest wrote this' > ${GUEST_HOST_MOUNT}/from-guest.txt`);
    expect(w.exitCode).toBe(0);
    expect(new TextDecoder().decode(await guest.readFile('from-guest.txt'))).toBe('guest wrote this');
    await expect(guest.readFile('does/not/exist')).rejects.toThrow(/cannot read 'does\/not\/exist'/);
    await guest.removeFile('from-guest.txt');
    expect((await guest.run(`test -e ${GUEST_HOST_MOUNT}/from-guest.txt; echo $?`)).stdout).toBe('1\n');
  });

  it('unshare -m: a tmpfs on /tmp is visible only inside the new mount namespace', async () => {
    const inside = await guest.run(
      `unshare -m sh -c 'mount -t tmpfs tmpfs /tmp && echo secret > /tmp/only-inside && cat /tmp/only-inside && grep -c " /tmp " /proc/self/mountinfo'`,
    );
    expect(inside).toMatchObject({ exitCode: 0, stdout: 'secret\n1\n' });
    const outside = await guest.run(
      `test -e /tmp/only-inside && echo leaked; grep -c ' /tmp ' /proc/self/mountinfo; true`,
    );
    expect(outside.stdout).toBe('0\n');
  });

  it('overlay: copy-up into the upper dir and a 0/0 character-device whiteout', async () => {
    await guest.writeFile('layers/base/etc/motd', 'from the lower layer\n');
    await guest.writeFile('layers/base/etc/remove-me', 'bye\n');
    const script = `
      set -e
      d=/run/ovl; mkdir -p $d; mount -t tmpfs tmpfs $d
      mkdir $d/upper $d/work $d/merged
      mount -t overlay overlay -o lowerdir=${GUEST_HOST_MOUNT}/layers/base,upperdir=$d/upper,workdir=$d/work $d/merged
      echo 'changed in the container' >> $d/merged/etc/motd
      rm $d/merged/etc/remove-me
      echo "merged: $(cat $d/merged/etc/motd | tr '\\n' '|')"
      echo "lower: $(cat ${GUEST_HOST_MOUNT}/layers/base/etc/motd)"
      echo "upper: $(cat $d/upper/etc/motd | tr '\\n' '|')"
      echo "whiteout: $(stat -c '%F %t:%T' $d/upper/etc/remove-me)"
      test ! -e $d/merged/etc/remove-me && echo "hidden in merged"
      umount $d/merged; umount $d
    `;
    const r = await guest.run(script);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'merged: from the lower layer|changed in the container|',
      'lower: from the lower layer',
      'upper: from the lower layer|changed in the container|',
      'whiteout: character special file 0:0',
      'hidden in merged',
      '',
    ]);
  });

  it('unshare -p -f --mount-proc: the command is PID 1 of a new PID namespace', async () => {
    // `; true` keeps sh from exec'ing ps, so the namespace holds sh (PID 1) and ps (PID 2).
    const r = await guest.run([
      'unshare',
      '-p',
      '-f',
      '--mount-proc',
      'sh',
      '-c',
      'echo $$; ps -o pid,comm; true',
    ]);
    expect(r).toMatchObject({ exitCode: 0, stderr: '' });
    const [pid, header, ...ps] = r.stdout.trim().split('\n');
    expect(pid).toBe('1');
    expect(header).toMatch(/PID\s+COMMAND/);
    expect(ps.map((l) => l.trim().split(/\s+/))).toEqual([
      ['1', 'sh'],
      ['2', 'ps'],
    ]);
  });

  it('cgroup2: pids.max stops forks beyond the limit', async () => {
    const script = `
      cg=/sys/fs/cgroup/strata-pids-test
      mkdir $cg && echo 3 > $cg/pids.max
      sh -c "echo \\$\\$ > $cg/cgroup.procs; for i in 1 2 3 4 5; do sleep 30 & done; echo forked" 2>&1
      echo "current $(cat $cg/pids.current)"
      grep max $cg/pids.events
      echo 1 > $cg/cgroup.kill
      i=0
      while read -r _ < $cg/cgroup.procs && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
      rmdir $cg
    `;
    const r = await guest.run(script, { timeoutMs: 20_000 });
    expect(r.stdout).toMatch(/can't fork/);
    expect(r.stdout).toMatch(/^current [12]$/m);
    expect(r.stdout).toMatch(/^max [1-9]\d*$/m);
    expect(r.exitCode).toBe(0);
  });

  it('a request that hangs fails with a clear timeout error, and the guest answers again after', async () => {
    const t0 = performance.now();
    const err: unknown = await guest.run('sleep 600', { timeoutMs: 1_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GuestTimeoutError);
    expect((err as Error).message).toBe("guest did not answer 'sleep 600' within 1000 ms");
    expect(performance.now() - t0).toBeLessThan(3_000);
    // The agent killed the command's process group on the host's ^C and is reading requests again.
    const next = await guest.run('echo still here; ps -o args | grep -c "^sleep 600"', { timeoutMs: 10_000 });
    expect(next.stdout).toBe('still here\n0\n');
  });
});
