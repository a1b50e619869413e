// The emu backend's guest requests are pure functions of the ContainerSpec: checked here without a
// guest (the guest runs them in backend.test.ts and differential.test.ts).
import { describe, expect, it } from 'vitest';
import { runStageArgs, startRequest } from '../../backend-emu/src/emu-scripts.ts';
import { prepareOps } from '../../backend-emu/src/emu-snapshotter.ts';
import { deviceArgs, mountArgs } from '../../backend-native/src/run-plan.ts';
import {
  ALL_CONTAINER_NAMESPACES,
  defaultDevices,
  defaultMounts,
  type ContainerSpec,
} from '../../shared/src/spec.ts';

const id = 'a'.repeat(64);
const spec: ContainerSpec = {
  id,
  hostname: 'h',
  rootfs: {
    lowerDirs: ['/S/l/A', '/S/l/B'],
    upperDir: '/S/x/diff',
    workDir: '/S/x/work',
    mergedDir: '/S/x/merged',
    readonly: false,
  },
  process: {
    args: ['sh', '-c', "echo 'it''s'"],
    env: ['PATH=/bin', 'A=b c'],
    cwd: '/work',
    user: '',
    terminal: false,
  },
  namespaces: ALL_CONTAINER_NAMESPACES,
  mounts: [
    ...defaultMounts(),
    { destination: '/etc/hostname', type: 'bind', source: '/host/hostname', options: ['rbind', 'rprivate'] },
    { destination: '/data', type: 'bind', source: '/host/data', options: ['rbind', 'ro', 'rprivate'] },
  ],
  devices: defaultDevices(),
  init: false,
  cgroup: {
    path: `strata/${id}`,
    limits: { pidsLimit: 20, memoryBytes: 64 << 20, memorySwapBytes: 128 << 20 },
  },
};
const sources = new Map([
  [6, { guestPath: '/mnt/host/.strata-emu/hostfs/host/hostname', isFile: true }],
  [7, { guestPath: '/mnt/host/.strata-emu/hostfs/host/data', isFile: false }],
]);

const paths = { share: '/mnt/host/.strata-emu/c/x', sources, stdout: 'split' as const, stdin: false };

/** The values of every occurrence of a flag taking `n` values. */
function flagValues(args: string[], flag: string, n: number): string[][] {
  const out: string[][] = [];
  args.forEach((a, i) => {
    if (a === flag) out.push(args.slice(i + 1, i + 1 + n));
  });
  return out;
}

describe('emu start plan', () => {
  const args = runStageArgs(spec, paths);

  it("is the native shim's setup plan, with the bind sources mapped into the share", () => {
    const mapped = spec.mounts.map((m, i) => ({ ...m, source: sources.get(i)?.guestPath ?? m.source }));
    const native = [...mountArgs(mapped), ...deviceArgs(spec)];
    // The same flags in the same order: one plan builder (shared/src/run-plan.ts).
    const at = args.indexOf('--mount');
    expect(args.slice(at, at + native.length)).toEqual(native);
    const binds = flagValues(args, '--mount', 6).filter((m) => m[0] === 'bind');
    expect(binds.map((m) => [m[3], m[4], m[1]])).toEqual([
      ['/mnt/host/.strata-emu/hostfs/host/hostname', '/etc/hostname', String(4096 | 16384)],
      ['/mnt/host/.strata-emu/hostfs/host/data', '/data', String(4096 | 16384 | 1)],
    ]);
  });

  it('carries the overlay, cwd, network, hostname, limits, stdio, env and the payload', () => {
    const value = (flag: string) => args[args.indexOf(flag) + 1];
    expect(args.slice(0, 2)).toEqual(['/bin/strata-confine', 'run']);
    expect(value('--overlay')).toBe('lowerdir=/S/l/A:/S/l/B,upperdir=/S/x/diff,workdir=/S/x/work');
    expect(value('--rootfs')).toBe('/S/x/merged');
    expect(value('--mkdir')).toBe('/work');
    expect(value('--cwd')).toBe('/work');
    expect(args).toContain('--unshare-net');
    expect(value('--hostname')).toBe('h');
    expect(value('--cgroup')).toBe(`/sys/fs/cgroup/strata/${id}`);
    expect(flagValues(args, '--cgroup-set', 2)).toEqual([
      ['pids.max', '20'],
      ['memory.max', String(64 << 20)],
    ]);
    expect(flagValues(args, '--cgroup-opt', 2)).toEqual([['memory.swap.max', String(64 << 20)]]);
    expect(value('--stdout')).toBe('/mnt/host/.strata-emu/c/x/out');
    expect(value('--exit')).toBe('/mnt/host/.strata-emu/c/x/exit');
    expect(flagValues(args, '--env', 1)).toEqual([['PATH=/bin'], ['A=b c']]);
    expect(args.slice(args.indexOf('--') + 1)).toEqual(spec.process.args);
    // Unconfined here (no SecuritySpec): no capability or seccomp flags.
    expect(args).not.toContain('--caps');
  });

  it('is one request that execs the stage, every argument quoted', () => {
    const script = startRequest(spec, paths);
    expect(script.startsWith('exec /bin/strata-confine run --rootfs /S/x/merged ')).toBe(true);
    expect(script).toContain(`--env 'A=b c'`);
    expect(script).toContain(String.raw`-- sh -c 'echo '\''it'\'''\''s'\'''`);
    expect(script.trim().split('\n')).toHaveLength(1);
    // The report goes into the share, so the agent's answer has no stdout to encode.
    expect(script.trimEnd().endsWith(' >/mnt/host/.strata-emu/c/x/report')).toBe(true);
  });
});

describe('emu snapshot preparation', () => {
  it('is one exec of the stage: parents, modes, contents, links, then the rename into place', () => {
    const s = { link: 'LINK', lower: ['l/A', 'l/B'], work: true, merged: false, committed: true };
    const ops = prepareOps('x', s, [
      { kind: 'dir', path: 'dev/pts', mode: 0o755 },
      { kind: 'file', path: 'etc/hostname', mode: 0o600, content: 'h\n' },
      { kind: 'symlink', path: 'etc/mtab', target: '/proc/mounts' },
    ]);
    const P = '/var/lib/strata/overlay2/x.partial';
    expect(ops.slice(0, 2)).toEqual(['/bin/strata-confine', 'fs']);
    const at = (...op: string[]) => {
      const i = ops.findIndex((_, k) => op.every((o, j) => ops[k + j] === o));
      expect(i, op.join(' ')).toBeGreaterThan(0);
      return i;
    };
    const order = [
      at('--rmrf', P),
      at('--mkdir', `${P}/diff`, '755'),
      at('--mkdir', `${P}/work`, '755'),
      at('--write', `${P}/link`, '644', 'LINK'),
      at('--write', `${P}/lower`, '644', 'l/A:l/B'),
      at('--mkdir', `${P}/diff/etc`, '755'),
      at('--mkdir', `${P}/diff/dev/pts`, '755'),
      at('--write', `${P}/diff/etc/hostname`, '600', 'h\n'),
      at('--symlink', '/proc/mounts', `${P}/diff/etc/mtab`),
      at('--write', `${P}/committed`, '644', ''),
      at('--symlink', '../x/diff', '/var/lib/strata/overlay2/l/LINK'),
      at('--rename', P, '/var/lib/strata/overlay2/x'),
    ];
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(ops).not.toContain(`${P}/merged`); // a committed layer is never mounted
  });
});
