// Cgroup limits on the real kernel: pids, memory (OOM kill, OOMKilled), CPU quota and shares,
// `stats --no-stream`, and nothing left in any hierarchy after rm. This machine kind is cgroup v1
// (hybrid); cgroup v2 runs in the emulator's guest (its own issue): here every controller is bound to
// a v1 hierarchy, so a cgroup2 mount would have none to test with.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  destroyRoot,
  ok,
  requireNativePrerequisites,
  strata,
  strataAsync,
  tempRoot,
} from '../helpers/strata.js';

const CG = '/sys/fs/cgroup';
let root: string;
beforeAll(() => {
  requireNativePrerequisites();
  root = tempRoot('limits');
  ok(root, ['run', '--rm', 'busybox', 'true']);
});
afterAll(() => destroyRoot(root));

/** Every v1 hierarchy (or the v2 tree) that holds a cgroup for this container. */
function cgroupsOf(id: string): string[] {
  return fs
    .readdirSync(CG)
    .map((h) => path.join(CG, h, 'strata', id))
    .filter((d) => fs.existsSync(d));
}

const read = (f: string) => fs.readFileSync(f, 'utf8').trim();

describe('cgroup limits', () => {
  it('--pids-limit 20 caps a fork loop', () => {
    // The loop runs in a subshell, which dies on the first failed fork; the outer shell then counts
    // the container's processes with a builtin glob (no fork left to spare).
    const r = strata(root, [
      'run',
      '--rm',
      '--pids-limit',
      '20',
      'busybox',
      'sh',
      '-c',
      '( i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done ); set -- /proc/[0-9]*; echo procs=$#',
    ]);
    expect(r.stderr).toContain("can't fork");
    const procs = Number(/procs=(\d+)/.exec(r.stdout)?.[1]);
    expect(procs).toBeGreaterThan(10);
    expect(procs).toBeLessThanOrEqual(20);
  });

  it('--memory 32m: allocating 64 MB is OOM-killed, exit 137, State.OOMKilled true', () => {
    // dd's 64 MB block buffer is filled by read(2), so every page of it is touched.
    const r = strata(root, [
      'run',
      '--name',
      'oom',
      '-m',
      '32m',
      'busybox',
      'dd',
      'if=/dev/zero',
      'of=/dev/null',
      'bs=64M',
      'count=1',
    ]);
    expect(r.code).toBe(137);
    expect(
      ok(root, [
        'inspect',
        '-f',
        '{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}',
        'oom',
      ]).trim(),
    ).toBe(`true 137 ${32 * 1024 * 1024}`);
    ok(root, ['rm', 'oom']);
    // The same allocation under a roomier limit is not an OOM kill.
    expect(
      strata(root, [
        'run',
        '--name',
        'fine',
        '-m',
        '128m',
        'busybox',
        'dd',
        'if=/dev/zero',
        'of=/dev/null',
        'bs=64M',
        'count=1',
      ]).code,
    ).toBe(0);
    expect(ok(root, ['inspect', '-f', '{{.State.OOMKilled}}', 'fine']).trim()).toBe('false');
    ok(root, ['rm', 'fine']);
  });

  it('writes --cpus, -c, -m and --memory-swap into the cgroup files, and removes them with the container', () => {
    const id = ok(root, [
      'run',
      '-d',
      '--cpus',
      '0.5',
      '-c',
      '512',
      '-m',
      '64m',
      '--memory-swap',
      '128m',
      '--pids-limit',
      '50',
      'busybox',
      'sleep',
      '1000',
    ]).trim();
    try {
      expect(read(`${CG}/cpu/strata/${id}/cpu.cfs_quota_us`)).toBe('50000');
      expect(read(`${CG}/cpu/strata/${id}/cpu.cfs_period_us`)).toBe('100000');
      expect(read(`${CG}/cpu/strata/${id}/cpu.shares`)).toBe('512');
      expect(read(`${CG}/memory/strata/${id}/memory.limit_in_bytes`)).toBe(String(64 * 1024 * 1024));
      if (fs.existsSync(`${CG}/memory/strata/${id}/memory.memsw.limit_in_bytes`)) {
        expect(read(`${CG}/memory/strata/${id}/memory.memsw.limit_in_bytes`)).toBe(String(128 * 1024 * 1024));
      }
      expect(read(`${CG}/pids/strata/${id}/pids.max`)).toBe('50');
      expect(cgroupsOf(id).length).toBeGreaterThanOrEqual(4);
    } finally {
      ok(root, ['rm', '-f', id]);
    }
    expect(cgroupsOf(id)).toEqual([]);
  });

  it("puts PID 1 and an exec'd process in every hierarchy of the container, --init's payload too", async () => {
    // On v1 each joins by moving itself ("0" to the tasks file), which needs no global lock: a
    // join that silently failed would leave them in the daemon's or the shell's cgroups.
    const cgroupLines = (pid: number) =>
      read(`/proc/${pid}/cgroup`)
        .split('\n')
        .filter((l) => l.includes('/strata/'));
    const inContainer = (pid: number) => cgroupLines(pid).map((l) => l.split(':').slice(2).join(':'));
    const id = ok(root, ['run', '-d', '--init', 'busybox', 'sh', '-c', 'sleep 1000 & wait']).trim();
    try {
      const hierarchies = cgroupsOf(id);
      expect(hierarchies.length).toBeGreaterThanOrEqual(4);
      const pid = Number(ok(root, ['inspect', '-f', '{{.State.Pid}}', id]).trim());
      expect(inContainer(pid)).toEqual(Array(hierarchies.length).fill(`/strata/${id}`));
      const procs = (dir: string) =>
        read(path.join(dir, 'cgroup.procs')).split('\n').filter(Boolean).map(Number);
      // PID 1 (the init), its payload sh and sleep, in each hierarchy.
      for (const dir of hierarchies) expect(procs(dir).length).toBe(3);
      const exec = strataAsync(root, ['exec', id, 'sleep', '3']);
      try {
        let joined: number[] = [];
        for (let i = 0; i < 100 && joined.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 30));
          joined = procs(hierarchies[0]!).filter(
            (p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\u00003\u0000',
          );
        }
        expect(joined).toHaveLength(1);
        expect(inContainer(joined[0]!)).toEqual(Array(hierarchies.length).fill(`/strata/${id}`));
        for (const dir of hierarchies) expect(procs(dir)).toContain(joined[0]);
      } finally {
        await exec;
      }
    } finally {
      ok(root, ['rm', '-f', id]);
    }
  });

  it('stats --no-stream shows CPU, memory against its limit, and PIDs', () => {
    const id = ok(root, [
      'run',
      '-d',
      '--name',
      'busy',
      '-m',
      '64m',
      'busybox',
      'sh',
      '-c',
      'sleep 1000 & while :; do :; done',
    ]).trim();
    try {
      const out = ok(root, ['stats', '--no-stream']);
      const [header, ...rows] = out.trim().split('\n');
      expect(header).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+PIDS$/);
      const row = rows.find((l) => l.startsWith(id.slice(0, 12)))!;
      const m = /^(\w{12})\s+busy\s+([\d.]+)%\s+([\d.]+\w+) \/ 64MiB\s+([\d.]+)%\s+(\d+)$/.exec(row);
      expect(m, row).not.toBeNull();
      expect(Number(m![2])).toBeGreaterThan(5); // a busy loop (on a loaded 2-core VM it may get little)
      expect(Number(m![5])).toBe(2);
    } finally {
      ok(root, ['rm', '-f', id]);
    }
    expect(cgroupsOf(id)).toEqual([]);
  });
});
