// Cgroup v2, tested in the emulator's guest (this host is cgroup v1): the Engine drives EmuBackend
// in-process, one guest for the whole file (restored from the snapshot). The limits are written by
// the core's one mapping (shared/src/cgroup-limits.ts) as guest shell lines; the guest's kernel
// enforces them. Fails (never skips) when the guest image is missing.
import { describe, expect, it } from 'vitest';
import { runOptions as opts, startEmuEngineOnce, type EmuFixture } from './engine-fixture.ts';

const MiB = 1024 * 1024;
/** A container start is tens of busybox forks in the emulated CPU: seconds, minutes under load. */
const TEST_TIMEOUT = 300_000;
let fixture: EmuFixture | undefined;
startEmuEngineOnce('cgroups', (f) => (fixture = f));
const engine = () => fixture!.engine;

async function inGuest(script: string): Promise<string> {
  const r = await fixture!.guest.run(script, { timeoutMs: 60_000 });
  expect(r.stderr).toBe('');
  return r.stdout;
}

const cgroupDir = (id: string) => `/sys/fs/cgroup/strata/${id}`;

describe('cgroup v2 in the emulator guest', () => {
  it(
    'the guest is cgroup v2 with memory, pids and cpu delegated to containers',
    async () => {
      expect(
        await inGuest(
          'while read d m t r; do [ "$m" != /sys/fs/cgroup ] || echo $t; done < /proc/mounts; cat /sys/fs/cgroup/strata/cgroup.subtree_control',
        ),
      ).toMatch(/^cgroup2\n(?=.*\bmemory\b)(?=.*\bpids\b)(?=.*\bcpu\b).*\n$/);
    },
    TEST_TIMEOUT,
  );

  it(
    '--memory 32m: allocating 64 MB is OOM-killed, exit 137, State.OOMKilled true; the cgroup goes with rm',
    async () => {
      // dd's 64 MB block buffer is filled by read(2), so every page of it is touched.
      const rec = await engine().create(
        opts(['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'], { memory: 32 * MiB }),
      );
      try {
        const { exit } = await engine().start(rec, { kind: 'attach', tty: false, stdin: false });
        const st = await exit!;
        expect(st.exitCode).toBe(137);
        await engine().refresh(rec);
        expect(rec.State).toMatchObject({ ExitCode: 137, OOMKilled: true, Running: false });
        expect(rec.HostConfig.Memory).toBe(32 * MiB);
      } finally {
        await engine().remove(rec, { force: true, volumes: true });
      }
      expect(await inGuest(`[ -e ${cgroupDir(rec.Id)} ] && echo left; echo checked`)).toBe('checked\n');
    },
    TEST_TIMEOUT,
  );

  it(
    '--pids-limit caps a fork loop; --cpus, --cpu-shares, -m, --memory-swap land in cpu.max, cpu.weight, memory.*; rm removes the cgroup',
    async () => {
      const rec = await engine().create(
        opts(['sleep', '1000'], {
          detach: true,
          pidsLimit: 10,
          cpus: 0.5,
          cpuShares: 512,
          memory: 48 * MiB,
          memorySwap: 64 * MiB,
        }),
      );
      const cg = cgroupDir(rec.Id);
      try {
        await engine().start(rec, { kind: 'log', path: engine().logPath(rec), tty: false });
        // runc's values: cpu.max "quota period", cpu.weight 1 + (512-2)*9999/262142 = 20, and
        // memory.swap.max is --memory-swap minus --memory (the guest may have no swap file at all).
        expect(
          await inGuest(
            `cd ${cg} && cat cpu.max cpu.weight pids.max memory.max && { [ ! -e memory.swap.max ] && echo ${16 * MiB} || cat memory.swap.max; }`,
          ),
        ).toBe(`50000 100000\n20\n10\n${48 * MiB}\n${16 * MiB}\n`);

        // A fork loop inside the container, from the guest (a subshell joins the cgroup, nsenters): the
        // kernel refuses forks beyond 10, pids.events counts the refusals.
        const pid = rec.State.Pid;
        const out = await inGuest(
          `( echo 0 > ${cg}/cgroup.procs; exec nsenter -t ${pid} -p -m sh -c '( i=0; while [ $i -lt 30 ]; do sleep 30 & i=$((i+1)); done ) 2>/dev/null; set -- /proc/[0-9]*; echo procs=$#' ) 2>/dev/null; ` +
            `cat ${cg}/pids.current; while read k v; do [ "$k" != max ] || echo refused=$v; done < ${cg}/pids.events`,
        );
        const procs = Number(/procs=(\d+)/.exec(out)?.[1]);
        const [, current] = out.split('\n');
        expect(procs, out).toBeGreaterThan(3);
        expect(procs, out).toBeLessThanOrEqual(10);
        expect(Number(current), out).toBeLessThanOrEqual(10);
        expect(Number(/refused=(\d+)/.exec(out)?.[1]), out).toBeGreaterThan(0);
      } finally {
        await engine().remove(rec, { force: true, volumes: true });
      }
      expect(await inGuest(`[ -e ${cg} ] && echo left; echo checked`)).toBe('checked\n');
    },
    TEST_TIMEOUT,
  );
});
