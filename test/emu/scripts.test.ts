// The emu backend's guest scripts are pure functions of the ContainerSpec: checked here without a
// guest (the guest runs them in backend.test.ts and differential.test.ts).
import { describe, expect, it } from 'vitest';
import { cgroupLines, innerScript, monitorScript, mountTrees } from '../../backend-emu/src/emu-scripts.ts';
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

describe('emu guest scripts', () => {
  it('puts the devices, /dev symlinks and the mount points under /dev into the /dev tmpfs tree', () => {
    const trees = mountTrees(spec, sources);
    expect([...trees.keys()]).toEqual([1]); // index of the /dev tmpfs in defaultMounts()
    const entries = trees.get(1)!.map((e) => `${e.header.type} ${e.header.path}`);
    expect(entries).toEqual(
      expect.arrayContaining([
        'dir pts',
        'dir mqueue',
        'dir shm',
        'char null',
        'char urandom',
        'symlink ptmx',
      ]),
    );
    expect(entries).not.toContain('dir proc');
  });

  it('maps the limits to cgroup v2 files', () => {
    expect(cgroupLines(spec, '$CG')).toEqual([
      'echo 20 > $CG/pids.max',
      `echo ${64 << 20} > $CG/memory.max`,
      `[ ! -e $CG/memory.swap.max ] || echo ${64 << 20} > $CG/memory.swap.max`,
    ]);
  });

  it('mounts in spec order, remounts a read-only bind, pivots, resolves and execs with argv0', () => {
    const p = {
      share: '/mnt/host/.strata-emu/c/x',
      fifo: '/run/f',
      sources,
      trees: mountTrees(spec, sources),
      stdout: 'split' as const,
      stdin: false,
    };
    const inner = innerScript(spec, p);
    const order = [
      'mount -t tmpfs',
      'tar -x -f "$X/tree-1.tar"',
      'mount -t devpts',
      'mount -t sysfs',
      '--rbind /mnt/host/.strata-emu/hostfs/host/data',
      'remount,bind,ro',
      'mount -t proc',
      'pivot_root . .',
      'umount -l .',
      "exec -a sh \"$r\" -c 'echo '\\''it'\\'''\\''s'\\'''",
    ];
    const at = order.map((s) => inner.indexOf(s));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    const monitor = monitorScript(spec, p);
    expect(monitor).toContain("env -i PATH=/bin 'A=b c' unshare -m -u -i -n -p -f --propagation private sh");
    expect(monitor).toContain(
      `mount -t overlay -o lowerdir=/S/l/A:/S/l/B,upperdir=/S/x/diff,workdir=/S/x/work overlay "$M"`,
    );
  });
});
