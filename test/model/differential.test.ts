// The model against the real kernel: each scenario runs in the model and inside `unshare -m` on this
// machine, and the mount tables (normalised), step outcomes and overlay trees must agree.
// These tests need root and overlayfs and FAIL (never skip) without them.
import { describe, expect, it } from 'vitest';
import { OPAQUE_XATTR, snapshotTree } from '../../shared/src/model/index.js';
import { defaultMounts } from '../../shared/src/spec.js';
import type { MountInfo } from '../../shared/src/mount/mountinfo.js';
import { normaliseMountinfo, renderMountinfo } from '../../shared/src/mount/mountinfo.js';
import type { Step } from './real-kernel.js';
import { comparableMounts, hostTree, requireRealKernel, runModel, runReal } from './real-kernel.js';

async function compareMounts(steps: Step[], under = '/T') {
  requireRealKernel();
  const model = runModel(steps);
  const real = await runReal(steps);
  expect(model.outcomes).toEqual(real.outcomes);
  const m = comparableMounts(model.mountinfo, '/T', under);
  const r = comparableMounts(real.mountinfo, real.dir, under);
  expect(m).toBe(r);
  return { model, real, text: m };
}

const base: Step[] = [
  { op: 'tmpfs', target: '@' },
  { op: 'mkdir', path: '@/src' },
  { op: 'mkdir', path: '@/dst' },
  { op: 'tmpfs', target: '@/src' },
  { op: 'mkdir', path: '@/src/a' },
  { op: 'mkdir', path: '@/src/b' },
];

describe('mount propagation: model vs real kernel', () => {
  it('prerequisites: root, overlayfs, util-linux unshare', () => {
    requireRealKernel();
  });

  it('shared: bind of a shared mount is a peer; mounts propagate both ways', async () => {
    const { text } = await compareMounts([
      ...base,
      { op: 'make', target: '@/src', type: 'shared' },
      { op: 'bind', source: '@/src', target: '@/dst' },
      { op: 'tmpfs', target: '@/dst/a' },
      { op: 'tmpfs', target: '@/src/b' },
      { op: 'write', path: '@/src/a/t1', content: 'x' },
    ]);
    expect(text).toContain('shared:');
  });

  it('slave, shared+slave, and private', async () => {
    await compareMounts([
      ...base,
      { op: 'make', target: '@/src', type: 'shared' },
      { op: 'bind', source: '@/src', target: '@/dst' },
      { op: 'make', target: '@/dst', type: 'slave' },
      { op: 'tmpfs', target: '@/src/a' },
      { op: 'tmpfs', target: '@/dst/b' },
      { op: 'make', target: '@/dst', type: 'shared' },
      { op: 'mkdir', path: '@/third' },
      { op: 'bind', source: '@/dst', target: '@/third' },
      { op: 'mkdir', path: '@/src/c' },
      { op: 'tmpfs', target: '@/src/c' },
      { op: 'make', target: '@/third', type: 'private' },
    ]);
  });

  it('unbindable: bind fails, rbind skips it; the last peer going private frees its slaves', async () => {
    await compareMounts([
      ...base,
      { op: 'tmpfs', target: '@/src/a' },
      { op: 'make', target: '@/src/a', type: 'unbindable' },
      { op: 'bind', source: '@/src/a', target: '@/dst' },
      { op: 'bind', source: '@/src', target: '@/dst', rec: true },
      { op: 'make', target: '@/src', type: 'shared' },
      { op: 'mkdir', path: '@/s2' },
      { op: 'bind', source: '@/src', target: '@/s2' },
      { op: 'make', target: '@/s2', type: 'slave' },
      { op: 'make', target: '@/src', type: 'private' },
    ]);
  });

  it('a mount under a shared parent becomes shared; umount propagates; busy and lazy umount', async () => {
    await compareMounts([
      ...base,
      { op: 'make', target: '@/src', type: 'shared' },
      { op: 'bind', source: '@/src', target: '@/dst' },
      { op: 'tmpfs', target: '@/src/a' },
      { op: 'mkdir', path: '@/src/a/deep' },
      { op: 'tmpfs', target: '@/src/a/deep' },
      { op: 'umount', target: '@/src/a' },
      { op: 'umount', target: '@/src/a/deep' },
      { op: 'umount', target: '@/src/a' },
      { op: 'tmpfs', target: '@/dst/b' },
      { op: 'mkdir', path: '@/dst/b/x' },
      { op: 'tmpfs', target: '@/dst/b/x' },
      { op: 'umount', target: '@/dst/b', lazy: true },
    ]);
  });

  it('a propagated copy goes under a mount already there (tucked), and comes out again on umount', async () => {
    const steps: Step[] = [
      { op: 'tmpfs', target: '@' },
      { op: 'mkdir', path: '@/a' },
      { op: 'mkdir', path: '@/b' },
      { op: 'tmpfs', target: '@/a', source: 'A' },
      { op: 'mkdir', path: '@/a/x' },
      { op: 'make', target: '@/a', type: 'shared' },
      { op: 'bind', source: '@/a', target: '@/b' },
      { op: 'make', target: '@/b', type: 'slave' },
      { op: 'tmpfs', target: '@/b/x', source: 'M' },
      { op: 'tmpfs', target: '@/a/x', source: 'N' },
    ];
    const { text } = await compareMounts(steps);
    expect(text).toMatch(/^\d+ \d+ \S+ \/ \/T\/b\/x rw,relatime - tmpfs M rw$/m);
    const after = await compareMounts([...steps, { op: 'umount', target: '@/a/x' }]);
    expect(after.text).not.toContain('tmpfs N');
  });

  it('unshare copies the namespace: peers stay peers across namespaces until made private', async () => {
    const { text } = await compareMounts([
      { op: 'tmpfs', target: '@' },
      { op: 'mkdir', path: '@/a' },
      { op: 'mkdir', path: '@/b' },
      { op: 'mkdir', path: '@/c' },
      { op: 'make', target: '@', type: 'shared' },
      { op: 'unshare', steps: [{ op: 'tmpfs', target: '@/a' }] }, // propagates back (experiment 2's trap)
      {
        op: 'unshare',
        steps: [
          { op: 'make', target: '@', type: 'private' },
          { op: 'tmpfs', target: '@/b' }, // stays inside
        ],
      },
      {
        op: 'unshare',
        steps: [
          { op: 'make', target: '@', type: 'slave' },
          { op: 'tmpfs', target: '@/c' }, // a slave does not send back
        ],
      },
    ]);
    expect(text).toContain(' /T/a ');
    expect(text).not.toContain(' /T/b ');
    expect(text).not.toContain(' /T/c ');
  });

  it('MS_MOVE: subtree moves; propagates into a shared destination; EINVAL under a shared parent', async () => {
    await compareMounts([
      { op: 'tmpfs', target: '@' },
      { op: 'mkdir', path: '@/m' },
      { op: 'mkdir', path: '@/dst' },
      { op: 'mkdir', path: '@/src' },
      { op: 'mkdir', path: '@/s2' },
      { op: 'tmpfs', target: '@/m' },
      { op: 'mkdir', path: '@/m/inner' },
      { op: 'tmpfs', target: '@/m/inner' },
      { op: 'move', source: '@/m', target: '@/dst' },
      { op: 'tmpfs', target: '@/src' },
      { op: 'mkdir', path: '@/src/x' },
      { op: 'make', target: '@/src', type: 'shared' },
      { op: 'bind', source: '@/src', target: '@/s2' },
      { op: 'move', source: '@/dst', target: '@/src/x' },
      { op: 'mkdir', path: '@/back' },
      { op: 'move', source: '@/src/x', target: '@/back' },
    ]);
  });

  it('bind of a subdirectory and of a file, stacked mounts, remounts, symlinks on the way', async () => {
    const { text } = await compareMounts([
      { op: 'tmpfs', target: '@', data: 'size=64k,mode=1777,uid=0' },
      { op: 'mkdir', path: '@/a/sub' },
      { op: 'mkdir', path: '@/b' },
      { op: 'mkdir', path: '@/c' },
      { op: 'write', path: '@/f', content: 'x' },
      { op: 'write', path: '@/g', content: '' },
      { op: 'bind', source: '@/f', target: '@/g' },
      { op: 'bind', source: '@/a/sub', target: '@/b' },
      { op: 'remount', target: '@/b', options: ['bind', 'ro'] },
      { op: 'write', path: '@/b/nope', content: 'x' }, // EROFS through the read-only bind
      { op: 'tmpfs', target: '@/c', source: 'one' },
      { op: 'tmpfs', target: '@/c', source: 'two' },
      { op: 'remount', target: '@/c', options: ['ro', 'nosuid'] },
      { op: 'symlink', target: 'c', path: '@/link' },
      { op: 'umount', target: '@/link' }, // through the symlink: the top mount on @/c
      { op: 'write', path: '@/c/yes', content: 'y' },
      { op: 'bind', source: '@/c', target: '@/a' },
    ]);
    expect(text).toContain(' /a/sub /T/b ro,relatime - tmpfs none rw,size=64k\n');
    expect(text).toContain(' /f /T/g ');
  });

  it("Docker's default mounts (spec.ts defaultMounts) through parseMountOptions match mount(8)", async () => {
    const mounts = defaultMounts();
    const dirs = ['/proc', '/dev', '/sys'];
    const { text } = await compareMounts([
      { op: 'tmpfs', target: '@' },
      ...dirs.map((d): Step => ({ op: 'mkdir', path: '@/rootfs' + d })),
      ...mounts.flatMap((mount): Step[] => [
        { op: 'mkdir', path: '@/rootfs' + mount.destination },
        { op: 'spec', root: '@/rootfs', mount },
      ]),
      {
        op: 'spec',
        root: '@/rootfs',
        mount: {
          destination: '/mnt',
          type: 'bind',
          source: '@/rootfs/dev',
          options: ['rbind', 'ro', 'rslave'],
        },
      },
    ]);
    expect(text).toContain(' /T/rootfs/dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n');
    expect(text).toContain(
      ' /T/rootfs/dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666\n',
    );
    expect(text).toContain(' /T/rootfs/sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs rw\n');
  });

  it('chroot: mountinfo is relative to the root, hides what is outside, and shows propagate_from', async () => {
    requireRealKernel();
    const steps: Step[] = [
      { op: 'tmpfs', target: '@' },
      { op: 'mkdir', path: '@/x/a' },
      { op: 'mkdir', path: '@/x/c' },
      { op: 'mkdir', path: '@/x/proc' },
      { op: 'mkdir', path: '@/y/b' },
      { op: 'tmpfs', target: '@/x/a' },
      { op: 'make', target: '@/x/a', type: 'shared' }, // A
      { op: 'bind', source: '@/x/a', target: '@/y/b' }, // B, a peer of A...
      { op: 'make', target: '@/y/b', type: 'slave' }, // ...then A's slave
      { op: 'make', target: '@/y/b', type: 'shared' }, // shared and slave
      { op: 'bind', source: '@/y/b', target: '@/x/c' }, // C, a peer of B...
      { op: 'make', target: '@/x/c', type: 'slave' }, // ...then B's slave
      { op: 'proc', target: '@/x/proc' },
      { op: 'sh', cmd: 'cp /usr/bin/busybox @/x/busybox' },
      { op: 'chrootMountinfo', root: '@/x' },
    ];
    const model = runModel(steps);
    const real = await runReal(steps);
    expect(real.outcomes).toEqual(model.outcomes);
    const i = steps.length - 1;
    const render = (e: MountInfo[] | undefined) => renderMountinfo(normaliseMountinfo(e ?? []));
    const m = render(model.captures[i]);
    expect(m).toBe(render(real.captures[i]));
    expect(m).toBe(
      [
        '1 4 0:1 / /a rw,relatime shared:1 - tmpfs none rw',
        '2 4 0:1 / /c rw,relatime master:2 propagate_from:1 - tmpfs none rw',
        '3 4 0:2 / /proc rw,relatime - proc proc rw',
        '',
      ].join('\n'),
    );
  });

  it('path walk: ".." leaves a mount through its mount point; symlinks resolve across mounts', async () => {
    requireRealKernel();
    const steps: Step[] = [
      { op: 'tmpfs', target: '@' },
      { op: 'mkdir', path: '@/a' },
      { op: 'mkdir', path: '@/b' },
      { op: 'write', path: '@/b/file', content: 'B' },
      { op: 'tmpfs', target: '@/a' },
      { op: 'mkdir', path: '@/a/sub' },
      { op: 'symlink', target: '../../b/file', path: '@/a/sub/up' },
      { op: 'symlink', target: '@/b', path: '@/a/abs' },
      { op: 'mkdir', path: '@/a/sub/bb' },
      { op: 'bind', source: '@/b', target: '@/a/sub/bb' },
      { op: 'cat', path: '@/a/sub/up' },
      { op: 'cat', path: '@/a/sub/bb/../up' },
      { op: 'cat', path: '@/a/abs/file' },
      { op: 'cat', path: '@/a/sub/bb/../../../b/file' },
      { op: 'bind', source: '@/a/abs', target: '@/a/sub' }, // the source symlink is followed
      { op: 'cat', path: '@/a/sub/file' },
      { op: 'cat', path: '@/a/sub/missing' },
    ];
    const model = runModel(steps);
    const real = await runReal(steps);
    expect(real.outcomes).toEqual(model.outcomes);
    expect(model.texts).toEqual(real.texts);
    expect(Object.values(model.texts)).toEqual(['B', 'B', 'B', 'B', 'B']);
    expect(comparableMounts(model.mountinfo, '/T')).toBe(comparableMounts(real.mountinfo, real.dir));
  });

  it('pivot_root: errno checks in kernel order, then a pivot; old root under put_old', async () => {
    const steps: Step[] = [
      { op: 'mkdir', path: '@' },
      { op: 'pivot', newRoot: '@', putOld: '@' }, // still on the root mount: EBUSY
      { op: 'tmpfs', target: '@' },
      { op: 'mkdir', path: '@/x/old' },
      { op: 'mkdir', path: '@/x/etc' },
      { op: 'mkdir', path: '@/y' },
      { op: 'write', path: '@/x/etc/os-release', content: 'NAME=Ubuntu' },
      { op: 'pivot', newRoot: '@/x', putOld: '@/x/old' }, // not a mount point: EINVAL
      { op: 'bind', source: '@/x', target: '@/x' },
      { op: 'pivot', newRoot: '@/x', putOld: '@/y' }, // put_old not under new_root: EINVAL
      { op: 'make', target: '@/x', type: 'shared' },
      { op: 'pivot', newRoot: '@/x', putOld: '@/x/old' }, // new_root shared: EINVAL
      { op: 'make', target: '@/x', type: 'private' },
      { op: 'pivot', newRoot: '@/x', putOld: '@/x/old' },
    ];
    requireRealKernel();
    const model = runModel(steps);
    const real = await runReal(steps);
    expect(model.outcomes).toEqual([
      ...['ok', 'EBUSY', 'ok', 'ok', 'ok', 'ok', 'ok'],
      ...['EINVAL', 'ok', 'EINVAL', 'ok', 'EINVAL', 'ok', 'ok'],
    ]);
    expect(real.outcomes).toEqual(model.outcomes);
    // After the pivot, mountinfo is relative to the new root: "/" is @/x, the old root sits on /old.
    const pick = (entries: typeof model.mountinfo, dir: string) =>
      comparableMounts(
        entries.filter((e) => e.mountPoint === '/' || e.mountPoint.startsWith('/old' + dir)),
        '/old' + dir,
        '/',
      );
    const m = pick(model.mountinfo, '/T');
    expect(m).toBe(pick(real.mountinfo, real.dir));
    expect(m).toMatch(/^\d+ \d+ 0:1 \/x \/ rw,relatime - tmpfs none rw$/m);
    expect(m).toMatch(/^\d+ \d+ 0:1 \/ \/T rw,relatime - tmpfs none rw$/m); // was @, now /old/T
  });

  it('the pivot_root(".", ".") idiom and umount -l .', async () => {
    requireRealKernel();
    const steps: Step[] = [
      { op: 'tmpfs', target: '@' },
      { op: 'mkdir', path: '@/x/sub' },
      { op: 'tmpfs', target: '@/x/sub', data: 'mode=755' },
      { op: 'bind', source: '@/x', target: '@/x', rec: true },
      { op: 'sh', cmd: 'cp /usr/bin/busybox @/x/busybox' }, // a static umount for after the pivot
      { op: 'cd', path: '@/x' },
      { op: 'pivot', newRoot: '.', putOld: '.' },
      { op: 'umount', target: '.', lazy: true, tool: '/busybox' },
      { op: 'cd', path: '/' },
    ];
    const model = runModel(steps);
    const real = await runReal(steps);
    expect(real.outcomes).toEqual(model.outcomes);
    expect(model.outcomes.every((o) => o === 'ok')).toBe(true);
    const m = comparableMounts(model.mountinfo, '/T', '/');
    expect(m).toBe(comparableMounts(real.mountinfo, real.dir, '/'));
    expect(m).toBe(
      '1 3 0:1 /x / rw,relatime - tmpfs none rw\n2 1 0:2 / /sub rw,relatime - tmpfs none rw,mode=755\n',
    );
  });
});

describe('a container start like runc: overlay rootfs, /proc and /dev, pivot_root(".", ".")', () => {
  it('gives the same mount table inside the container and the same merged rootfs', async () => {
    requireRealKernel();
    const steps: Step[] = [
      { op: 'mkdir', path: '@/layer1/etc' },
      { op: 'mkdir', path: '@/layer1/proc' },
      { op: 'mkdir', path: '@/layer1/dev' },
      { op: 'mkdir', path: '@/layer1/tmp' },
      { op: 'write', path: '@/layer1/etc/os-release', content: 'NAME=Busybox' },
      { op: 'write', path: '@/layer1/etc/gone', content: 'old' },
      { op: 'mkdir', path: '@/init/etc' },
      { op: 'write', path: '@/init/etc/hostname', content: 'c1' },
      { op: 'mknod', path: '@/init/etc/gone', major: 0, minor: 0 }, // a whiteout in a lower layer
      { op: 'mkdir', path: '@/diff' },
      { op: 'mkdir', path: '@/work' },
      { op: 'mkdir', path: '@/merged' },
      { op: 'sh', cmd: 'cp /usr/bin/busybox @/layer1/busybox' },
      { op: 'overlay', target: '@/merged', lower: ['@/init', '@/layer1'], upper: '@/diff', work: '@/work' },
      { op: 'proc', target: '@/merged/proc' },
      { op: 'tmpfs', target: '@/merged/dev', source: 'tmpfs', data: 'mode=755,size=65536k' },
      { op: 'mkdir', path: '@/merged/dev/pts' },
      { op: 'bind', source: '@/merged/tmp', target: '@/merged/tmp' },
      { op: 'cd', path: '@/merged' },
      { op: 'pivot', newRoot: '.', putOld: '.' },
      { op: 'umount', target: '.', lazy: true, tool: '/busybox' },
      { op: 'cd', path: '/' },
      { op: 'write', path: '/etc/new', content: 'n' },
    ];
    const model = runModel(steps);
    const real = await runReal(steps, { inspect: (dir) => hostTree(`${dir}/diff`) });
    expect(real.outcomes).toEqual(model.outcomes);
    expect(model.outcomes.every((o) => o === 'ok')).toBe(true);
    // Inside, after the pivot: the whole table is the container's.
    const m = comparableMounts(model.mountinfo, '/T', '/');
    expect(m).toBe(comparableMounts(real.mountinfo, real.dir, '/'));
    expect(m).toMatch(
      /^1 \d+ 0:1 \/ \/ rw,relatime - overlay overlay rw,lowerdir=\/T\/init:\/T\/layer1,upperdir=\/T\/diff,workdir=\/T\/work,uuid=on\n/,
    );
    expect(
      m
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ')[4]),
    ).toEqual(['/', '/proc', '/dev', '/tmp']);
    const upper = snapshotTree(model.host, '/T/diff', { xattrs: [OPAQUE_XATTR] });
    expect(upper).toEqual(real.inspected);
    expect(upper.map((e) => e.path)).toEqual(['/etc', '/etc/new']);
    expect(model.proc.readdir('/etc')).toEqual(['hostname', 'new', 'os-release']);
  });
});

describe('overlayfs: model vs real kernel', () => {
  const layers: Step[] = [
    { op: 'mkdir', path: '@/l1/d' },
    { op: 'mkdir', path: '@/l2/d' },
    { op: 'mkdir', path: '@/l2/dir2' },
    { op: 'mkdir', path: '@/u' },
    { op: 'mkdir', path: '@/w' },
    { op: 'mkdir', path: '@/m' },
    { op: 'write', path: '@/l1/d/f1', content: 'l1' },
    { op: 'write', path: '@/l1/same', content: 'from l1' },
    { op: 'write', path: '@/l2/d/f2', content: 'l2' },
    { op: 'write', path: '@/l2/same', content: 'from l2' },
    { op: 'write', path: '@/l2/only2', content: 'two' },
    { op: 'write', path: '@/l2/dir2/x', content: 'x' },
    { op: 'overlay', target: '@/m', lower: ['@/l1', '@/l2'], upper: '@/u', work: '@/w' },
  ];

  it('copy-up, whiteouts, opaque dirs, renames: merged view, upper dir and mount line agree', async () => {
    requireRealKernel();
    const steps: Step[] = [
      ...layers,
      { op: 'write', path: '@/m/d/f2', content: 'changed' },
      { op: 'chmod', path: '@/m/d/f1', mode: 0o600 },
      { op: 'rm', path: '@/m/same' },
      { op: 'rm', path: '@/m/dir2/x' },
      { op: 'rmdir', path: '@/m/dir2' },
      { op: 'mkdir', path: '@/m/dir2' },
      { op: 'mkdir', path: '@/m/d/new' },
      { op: 'rename', from: '@/m/only2', to: '@/m/moved' },
      { op: 'rename', from: '@/m/d', to: '@/m/d2' },
      { op: 'mkdir', path: '@/m/mine' },
      { op: 'write', path: '@/m/mine/f', content: 'm' },
      { op: 'rename', from: '@/m/mine', to: '@/m/mine2' },
      { op: 'write', path: '@/m/tmp', content: 't' },
      { op: 'rm', path: '@/m/tmp' },
      { op: 'rmdir', path: '@/m/d' },
    ];
    const model = runModel(steps, ['@/m']);
    const real = await runReal(steps, { trees: ['@/m'], inspect: (dir) => hostTree(`${dir}/u`) });
    expect(real.outcomes).toEqual(model.outcomes);
    expect(model.outcomes.slice(layers.length)).toEqual([
      ...['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'EXDEV', 'ok', 'ok', 'ok', 'ok', 'ok'],
      'ENOTEMPTY',
    ]);
    expect(model.trees['@/m']).toEqual(real.trees['@/m']);
    const modelUpper = snapshotTree(model.proc, '/T/u', { xattrs: [OPAQUE_XATTR] });
    expect(modelUpper).toEqual(real.inspected);
    expect(modelUpper).toContainEqual({ path: '/same', kind: 'chardev', mode: 0, rdev: '0:0' });
    expect(modelUpper).toContainEqual({
      path: '/dir2',
      kind: 'dir',
      mode: 0o755,
      xattrs: { [OPAQUE_XATTR]: 'y' },
    });
    expect(comparableMounts(model.mountinfo, '/T')).toBe(comparableMounts(real.mountinfo, real.dir));
  });

  it('image-style layers: whiteouts and opaque dirs in lowers, deep copy-up, symlinks, rename over lower', async () => {
    requireRealKernel();
    const steps: Step[] = [
      { op: 'mkdir', path: '@/base/etc/conf.d' },
      { op: 'mkdir', path: '@/base/var/cache' },
      { op: 'mkdir', path: '@/base/opt' },
      { op: 'write', path: '@/base/etc/conf.d/a', content: 'a' },
      { op: 'write', path: '@/base/var/cache/old', content: 'old' },
      { op: 'write', path: '@/base/opt/tool', content: 'v1' },
      { op: 'symlink', target: 'conf.d/a', path: '@/base/etc/link' },
      { op: 'mkdir', path: '@/mid/var/cache' },
      { op: 'setxattr', path: '@/mid/var/cache', name: 'trusted.overlay.opaque', value: 'y' },
      { op: 'write', path: '@/mid/var/cache/new', content: 'new' },
      { op: 'mkdir', path: '@/mid/opt' },
      { op: 'mknod', path: '@/mid/opt/tool', major: 0, minor: 0 },
      { op: 'mkdir', path: '@/u' },
      { op: 'mkdir', path: '@/w' },
      { op: 'mkdir', path: '@/m' },
      { op: 'overlay', target: '@/m', lower: ['@/mid', '@/base'], upper: '@/u', work: '@/w' },
      { op: 'cat', path: '@/m/etc/link' },
      { op: 'cat', path: '@/m/opt/tool' },
      { op: 'mkdir', path: '@/m/etc/conf.d/deep/er' },
      { op: 'write', path: '@/m/etc/conf.d/deep/er/f', content: 'f' },
      { op: 'chmod', path: '@/m/etc/conf.d', mode: 0o700 },
      { op: 'write', path: '@/m/tmpfile', content: 't' },
      { op: 'rename', from: '@/m/tmpfile', to: '@/m/etc/conf.d/a' },
      { op: 'rm', path: '@/m/etc/link' },
      { op: 'rm', path: '@/m/var/cache/new' },
      { op: 'rmdir', path: '@/m/var/cache' },
      { op: 'cat', path: '@/m/etc/conf.d/a' },
    ];
    const model = runModel(steps, ['@/m']);
    const real = await runReal(steps, { trees: ['@/m'], inspect: (dir) => hostTree(`${dir}/u`) });
    expect(real.outcomes).toEqual(model.outcomes);
    expect(model.outcomes.filter((o) => o !== 'ok')).toEqual(['ENOENT']); // opt/tool is whited out
    expect(model.texts).toEqual(real.texts);
    expect(Object.values(model.texts)).toEqual(['a', 't']);
    expect(model.trees['@/m']).toEqual(real.trees['@/m']);
    expect(snapshotTree(model.host, '/T/u', { xattrs: [OPAQUE_XATTR] })).toEqual(real.inspected);
  });

  it('seed experiment 6: A and B on C (lowerdir only), leftmost wins, edits below stay hidden', async () => {
    requireRealKernel();
    const steps: Step[] = [
      { op: 'mkdir', path: '@/A' },
      { op: 'mkdir', path: '@/B' },
      { op: 'mkdir', path: '@/C' },
      { op: 'write', path: '@/A/t1.txt', content: 'A1' },
      { op: 'write', path: '@/A/t2.txt', content: 'A2' },
      { op: 'write', path: '@/B/t2.txt', content: 'B2' },
      { op: 'write', path: '@/B/t3.txt', content: 'B3' },
      { op: 'overlay', target: '@/C', lower: ['@/A', '@/B'] },
      { op: 'write', path: '@/B/t2.txt', content: 'B2 edited' },
      { op: 'write', path: '@/C/t1.txt', content: 'nope' },
    ];
    const model = runModel(steps, ['@/C']);
    const real = await runReal(steps, { trees: ['@/C'] });
    expect(real.outcomes).toEqual(model.outcomes);
    expect(model.outcomes[model.outcomes.length - 1]).toBe('EROFS');
    expect(model.trees['@/C']).toEqual(real.trees['@/C']);
    expect(model.trees['@/C']?.map((e) => `${e.path}=${e.content ?? ''}`)).toEqual([
      '/t1.txt=A1',
      '/t2.txt=A2',
      '/t3.txt=B3',
    ]);
    expect(comparableMounts(model.mountinfo, '/T')).toBe(comparableMounts(real.mountinfo, real.dir));
  });
});
