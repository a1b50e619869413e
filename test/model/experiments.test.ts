// The seed experiments (/work/shared/notes/seed-experiments.md) 1, 2, 5, 6 and 8, replayed in the model.
import { describe, expect, it } from 'vitest';
import { Kernel, OPAQUE_XATTR, snapshotTree } from '../../shared/src/model/index.js';
import { errnoOf, mountL, mountsUnder } from './helpers.js';

describe('experiment 1: a mount namespace changes nothing by itself', () => {
  it('the child inherits every mount; only a later mount is private to it', () => {
    const k = new Kernel();
    const host = k.init;
    host.writeFile('/tmp/host-file', 'from the host');
    const child = host.clone({ namespaces: ['mnt'] });
    expect(child.readdir('/tmp')).toEqual(['host-file']);
    expect(child.mountinfo().map((e) => e.mountPoint)).toEqual(host.mountinfo().map((e) => e.mountPoint));
    expect(child.nsLink('mnt')).not.toBe(host.nsLink('mnt'));
    child.mount('none', '/mnt', 'tmpfs');
    expect(mountsUnder(child, '/mnt')).toEqual(['/mnt tmpfs']);
    expect(mountsUnder(host, '/mnt')).toEqual([]);
  });
});

describe('experiment 2: remount /tmp inside', () => {
  function run(makePrivate: boolean) {
    const k = new Kernel({ sharedRoot: true }); // a systemd host: / is shared
    const host = k.init;
    host.writeFile('/tmp/host-file', 'x');
    const child = host.clone({ namespaces: ['mnt'] });
    if (makePrivate) child.mount('', '/', null, { flags: ['MS_PRIVATE'] });
    child.mount('none', '/tmp', 'tmpfs');
    const grep = (p: typeof host) =>
      p
        .mountinfo()
        .map(mountL)
        .filter((l) => l.includes('tmpfs'));
    return { host, child, hostLines: grep(host), childLines: grep(child) };
  }

  it('with MS_PRIVATE on /: /tmp is empty inside, and only the child lists it', () => {
    const { host, child, hostLines, childLines } = run(true);
    expect(child.readdir('/tmp')).toEqual([]);
    expect(childLines).toEqual(['none on /tmp type tmpfs (rw,relatime)']);
    expect(hostLines).toEqual([]);
    expect(host.readdir('/tmp')).toEqual(['host-file']);
  });

  it('without it, on a shared /, the mount propagates back to the host', () => {
    const { host, hostLines } = run(false);
    expect(hostLines).toEqual(['none on /tmp type tmpfs (rw,relatime)']);
    expect(host.readdir('/tmp')).toEqual([]);
  });
});

describe('experiment 5: pivot_root instead of chroot', () => {
  const X = '/containers/ubuntu-root';

  function prepare(opts: { sharedRoot?: boolean } = {}) {
    const k = new Kernel({ ...opts, hostname: 'centos-host' });
    const host = k.init;
    host.writeFile('/etc/os-release', 'NAME="CentOS Linux"\n');
    for (const d of ['bin', 'etc', 'proc', 'tmp']) host.mkdirp(`${X}/${d}`);
    host.writeFile(`${X}/etc/os-release`, 'NAME="Ubuntu"\n');
    const c = host.clone({ namespaces: ['mnt', 'uts', 'net', 'pid', 'ipc'] });
    return { k, host, c };
  }

  it('pivot_root switches the namespace root; the old root sits on put_old until umounted', () => {
    const { host, c } = prepare();
    c.sethostname('container');
    expect(host.hostname).toBe('centos-host');
    c.mount('proc', '/proc', 'proc');
    c.mount(X, X, null, { flags: ['MS_BIND'] });
    c.mkdir(`${X}/old-root`);
    c.pivotRoot(X, `${X}/old-root`);
    c.chdir('/');
    expect(c.readFile('/etc/os-release')).toBe('NAME="Ubuntu"\n');
    expect(c.readFile('/old-root/etc/os-release')).toBe('NAME="CentOS Linux"\n');
    expect(mountsUnder(c, '/old-root')).toEqual(['/old-root ext4', '/old-root/proc proc']);
    // The pivot loses /proc: mount it again.
    expect(c.exists('/proc/self')).toBe(false);
    c.mount('proc', '/proc', 'proc');
    expect(c.readlink('/proc/self')).toBe('1');
    c.umount('/old-root', { detach: true });
    c.rmdir('/old-root');
    expect(c.mountinfo().map((e) => `${e.mountPoint} ${e.fsType}`)).toEqual(['/ ext4', '/proc proc']);
    expect(c.readMountinfo().split('\n')[0]).toMatch(
      /^\d+ \d+ 254:0 \/containers\/ubuntu-root \/ rw,relatime - /,
    );
    // The host is untouched.
    expect(host.readFile('/etc/os-release')).toBe('NAME="CentOS Linux"\n');
    expect(host.mountinfo().map((e) => e.mountPoint)).toEqual(['/']);
  });

  it("the rules, checked in the kernel's order (shared first, then same mount, then mount points)", () => {
    const { c } = prepare();
    c.mkdir(`${X}/old-root`);
    // Not a mount point: new_root is still on the root mount, which the kernel reports as EBUSY.
    expect(errnoOf(() => c.pivotRoot(X, `${X}/old-root`))).toBe('EBUSY');
    c.mount(X, X, null, { flags: ['MS_BIND'] });
    expect(errnoOf(() => c.pivotRoot(X, '/tmp'))).toBe('EBUSY'); // put_old on the root mount
    c.mount('none', '/mnt', 'tmpfs');
    expect(errnoOf(() => c.pivotRoot(X, '/mnt'))).toBe('EINVAL'); // put_old not under new_root
    expect(errnoOf(() => c.pivotRoot(X, `${X}/missing`))).toBe('ENOENT');
    expect(errnoOf(() => c.pivotRoot('/', `${X}/old-root`))).toBe('EBUSY');
    c.mount('', X, null, { flags: ['MS_SHARED'] });
    expect(errnoOf(() => c.pivotRoot(X, `${X}/old-root`))).toBe('EINVAL'); // new_root shared

    const shared = prepare({ sharedRoot: true }).c;
    shared.mount(X, X, null, { flags: ['MS_BIND'] });
    shared.mkdir(`${X}/old-root`);
    expect(errnoOf(() => shared.pivotRoot(X, `${X}/old-root`))).toBe('EINVAL'); // parent mount shared
    shared.mount('', '/', null, { flags: ['MS_PRIVATE', 'MS_REC'] });
    shared.pivotRoot(X, `${X}/old-root`);

    const k = new Kernel({ rootOnInitramfs: true });
    const p = k.init.clone({ namespaces: ['mnt'] });
    p.mkdirp('/new');
    p.mount('none', '/new', 'tmpfs');
    p.mkdir('/new/old');
    expect(errnoOf(() => p.pivotRoot('/new', '/new/old'))).toBe('EINVAL'); // the root is rootfs
  });

  it('the pivot_root(".", ".") idiom stacks the old root on the new one; umount -l . drops it', () => {
    const { c } = prepare();
    c.mount(X, X, null, { flags: ['MS_BIND'] });
    c.chdir(X);
    c.pivotRoot('.', '.');
    expect(c.mountinfo().map((e) => `${e.mountPoint} ${e.fsType}`)).toEqual(['/ ext4', '/ ext4']);
    c.umount('.', { detach: true });
    c.chdir('/');
    expect(c.mountinfo().map((e) => e.root)).toEqual([X]);
    expect(c.readdir('/')).toEqual(['bin', 'etc', 'proc', 'tmp']);
  });

  it('chroot changes one process only; pivot_root moves every process of the namespace', () => {
    const { c } = prepare();
    const sibling = c.clone(); // same mount namespace
    c.chroot(X);
    expect(c.readFile('/etc/os-release')).toBe('NAME="Ubuntu"\n');
    expect(sibling.readFile('/etc/os-release')).toBe('NAME="CentOS Linux"\n');
    // A chroot is not a mount point: pivot_root from inside it fails even onto a real mount point.
    c.mkdirp('/new/old');
    c.mount('/new', '/new', null, { flags: ['MS_BIND'] });
    expect(errnoOf(() => c.pivotRoot('/new', '/new/old'))).toBe('EINVAL');
    c.umount('/new');
    // chroot's mountinfo hides what is outside the new root.
    expect(c.mountinfo()).toEqual([]);

    const d = prepare().c;
    const sib = d.clone();
    d.mount(X, X, null, { flags: ['MS_BIND'] });
    d.mkdir(`${X}/old-root`);
    d.pivotRoot(X, `${X}/old-root`);
    expect(sib.readFile('/etc/os-release')).toBe('NAME="Ubuntu"\n');
  });
});

describe('experiment 6: union mount of A and B on C', () => {
  it("C shows t1 t2 t3; t2 is A's (leftmost wins); editing B/t2.txt changes nothing visible", () => {
    const p = new Kernel().init;
    p.mkdirp('/u/A');
    p.mkdirp('/u/B');
    p.mkdirp('/u/C');
    p.writeFile('/u/A/t1.txt', 'A1');
    p.writeFile('/u/A/t2.txt', 'A2');
    p.writeFile('/u/B/t2.txt', 'B2');
    p.writeFile('/u/B/t3.txt', 'B3');
    p.mount('overlay', '/u/C', 'overlay', { data: 'lowerdir=/u/A:/u/B' });
    expect(p.readdir('/u/C')).toEqual(['t1.txt', 't2.txt', 't3.txt']);
    expect(p.readFile('/u/C/t2.txt')).toBe('A2');
    p.writeFile('/u/B/t2.txt', 'B2 edited');
    expect(p.readFile('/u/C/t2.txt')).toBe('A2');
    p.writeFile('/u/B/t3.txt', 'B3 edited');
    expect(p.readFile('/u/C/t3.txt')).toBe('B3 edited'); // not hidden: visible through
    // Without an upperdir the union is read-only.
    expect(errnoOf(() => p.writeFile('/u/C/t1.txt', 'x'))).toBe('EROFS');
  });
});

describe('experiment 8: copy-on-write', () => {
  it('changes land in the upper layer, deletes leave whiteouts, lower layers are shared and untouched', () => {
    const p = new Kernel().init;
    for (const d of [
      'base/etc',
      'base/bin',
      'c1/upper',
      'c1/work',
      'c1/merged',
      'c2/upper',
      'c2/work',
      'c2/merged',
    ]) {
      p.mkdirp('/var/lib/strata/' + d);
    }
    const L = '/var/lib/strata/';
    p.writeFile(L + 'base/etc/hostname', 'base');
    p.writeFile(L + 'base/bin/sh', 'ELF');
    const before = snapshotTree(p, L + 'base');
    for (const c of ['c1', 'c2']) {
      p.mount('overlay', `${L}${c}/merged`, 'overlay', {
        data: `lowerdir=${L}base,upperdir=${L}${c}/upper,workdir=${L}${c}/work`,
      });
    }
    p.writeFile(L + 'c1/merged/etc/hostname', 'c1');
    p.unlink(L + 'c1/merged/bin/sh');
    p.writeFile(L + 'c1/merged/new.txt', 'new');
    expect(p.readFile(L + 'c1/merged/etc/hostname')).toBe('c1');
    expect(p.readFile(L + 'c2/merged/etc/hostname')).toBe('base');
    expect(p.exists(L + 'c1/merged/bin/sh')).toBe(false);
    expect(p.readFile(L + 'c2/merged/bin/sh')).toBe('ELF');
    expect(snapshotTree(p, L + 'base')).toEqual(before);
    expect(snapshotTree(p, L + 'c1/upper', { xattrs: [OPAQUE_XATTR] })).toEqual([
      { path: '/bin', kind: 'dir', mode: 0o755 },
      { path: '/bin/sh', kind: 'chardev', mode: 0, rdev: '0:0' },
      { path: '/etc', kind: 'dir', mode: 0o755 },
      { path: '/etc/hostname', kind: 'file', mode: 0o644, content: 'c1' },
      { path: '/new.txt', kind: 'file', mode: 0o644, content: 'new' },
    ]);
    expect(snapshotTree(p, L + 'c2/upper')).toEqual([]);
    expect(p.readdir(L + 'c1/work')).toEqual(['work']);
  });
});
