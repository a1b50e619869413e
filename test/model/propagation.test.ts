// Shared-subtree semantics, following the examples of Documentation/filesystems/sharedsubtree.rst.
import { describe as suite, expect, it } from 'vitest';
import { Kernel } from '../../shared/src/model/index.js';
import { errnoOf, mountsUnder } from './helpers.js';

function setup(): ReturnType<typeof makeHost> {
  return makeHost();
}

function makeHost() {
  const k = new Kernel();
  const p = k.init;
  p.mkdirp('/mnt/src');
  p.mkdirp('/mnt/dst');
  p.mount('none', '/mnt/src', 'tmpfs');
  p.mkdir('/mnt/src/a');
  p.mkdir('/mnt/src/b');
  return { k, p };
}

suite('shared subtrees (sharedsubtree.rst section 2)', () => {
  it('2a shared: a mount under a bind of a shared mount appears on both sides', () => {
    const { p } = setup();
    p.mount('', '/mnt/src', null, { flags: ['MS_SHARED'] });
    p.mount('/mnt/src', '/mnt/dst', null, { flags: ['MS_BIND'] });
    p.mount('none', '/mnt/dst/a', 'tmpfs');
    p.writeFile('/mnt/dst/a/t1', 'x');
    expect(p.readdir('/mnt/src/a')).toEqual(['t1']);
    expect(mountsUnder(p, '/mnt')).toEqual([
      '/mnt/src shared:1 tmpfs',
      '/mnt/dst shared:1 tmpfs',
      '/mnt/dst/a shared:2 tmpfs',
      '/mnt/src/a shared:2 tmpfs',
    ]);
    // And the other way round.
    p.mount('none', '/mnt/src/b', 'tmpfs');
    expect(mountsUnder(p, '/mnt/dst/b')).toEqual(['/mnt/dst/b shared:3 tmpfs']);
  });

  it('2b slave: propagation flows from master to slave only', () => {
    const { p } = setup();
    p.mount('', '/mnt/src', null, { flags: ['MS_SHARED'] });
    p.mount('/mnt/src', '/mnt/dst', null, { flags: ['MS_BIND'] });
    p.mount('', '/mnt/dst', null, { flags: ['MS_SLAVE'] });
    p.mount('none', '/mnt/src/a', 'tmpfs');
    p.mount('none', '/mnt/dst/b', 'tmpfs');
    expect(mountsUnder(p, '/mnt')).toEqual([
      '/mnt/src shared:1 tmpfs',
      '/mnt/dst master:1 tmpfs',
      '/mnt/src/a shared:2 tmpfs',
      '/mnt/dst/a master:2 tmpfs',
      '/mnt/dst/b tmpfs',
    ]);
    expect(p.exists('/mnt/src/b/t')).toBe(false);
  });

  it('2c private: nothing propagates either way', () => {
    const { p } = setup();
    p.mount('/mnt/src', '/mnt/dst', null, { flags: ['MS_BIND'] });
    p.mount('none', '/mnt/src/a', 'tmpfs');
    p.mount('none', '/mnt/dst/b', 'tmpfs');
    expect(mountsUnder(p, '/mnt')).toEqual([
      '/mnt/src tmpfs',
      '/mnt/dst tmpfs',
      '/mnt/src/a tmpfs',
      '/mnt/dst/b tmpfs',
    ]);
  });

  it('2d unbindable: bind fails with EINVAL; rbind skips unbindable submounts', () => {
    const { p } = setup();
    p.mount('', '/mnt/src', null, { flags: ['MS_UNBINDABLE'] });
    expect(errnoOf(() => p.mount('/mnt/src', '/mnt/dst', null, { flags: ['MS_BIND'] }))).toBe('EINVAL');
    expect(mountsUnder(p, '/mnt')).toEqual(['/mnt/src unbindable tmpfs']);
    p.mkdir('/srv');
    p.mount('none', '/srv', 'tmpfs');
    p.mkdir('/srv/u');
    p.mkdir('/srv/v');
    p.mount('none', '/srv/u', 'tmpfs');
    p.mount('', '/srv/u', null, { flags: ['MS_UNBINDABLE'] });
    p.mount('none', '/srv/v', 'tmpfs');
    p.mount('/srv', '/mnt/dst', null, { flags: ['MS_BIND', 'MS_REC'] });
    expect(mountsUnder(p, '/mnt/dst')).toEqual(['/mnt/dst tmpfs', '/mnt/dst/v tmpfs']);
  });

  it('a plain bind takes one mount, MS_REC takes the mounts below too', () => {
    const { p } = setup();
    p.mount('none', '/mnt/src/a', 'tmpfs');
    p.mount('/mnt/src', '/mnt/dst', null, { flags: ['MS_BIND'] });
    expect(mountsUnder(p, '/mnt/dst')).toEqual(['/mnt/dst tmpfs']);
    p.umount('/mnt/dst');
    p.mount('/mnt/src', '/mnt/dst', null, { flags: ['MS_BIND', 'MS_REC'] });
    expect(mountsUnder(p, '/mnt/dst')).toEqual(['/mnt/dst tmpfs', '/mnt/dst/a tmpfs']);
  });

  it('making a shared mount a slave keeps it receiving from its old peers; private cuts it off', () => {
    const { p } = setup();
    p.mount('', '/mnt/src', null, { flags: ['MS_SHARED'] });
    p.mount('/mnt/src', '/mnt/dst', null, { flags: ['MS_BIND'] });
    p.mount('', '/mnt/dst', null, { flags: ['MS_SLAVE'] });
    p.mount('', '/mnt/dst', null, { flags: ['MS_SHARED'] });
    // shared and slave at once: "shared:2 master:1"
    expect(mountsUnder(p, '/mnt/dst')).toEqual(['/mnt/dst shared:2 master:1 tmpfs']);
    p.mount('', '/mnt/dst', null, { flags: ['MS_PRIVATE'] });
    p.mount('none', '/mnt/src/a', 'tmpfs');
    expect(mountsUnder(p, '/mnt/dst')).toEqual(['/mnt/dst tmpfs']);
  });

  it('a slave of a group whose last member goes private is freed (its master had none)', () => {
    const { p } = setup();
    p.mount('', '/mnt/src', null, { flags: ['MS_SHARED'] });
    p.mount('/mnt/src', '/mnt/dst', null, { flags: ['MS_BIND'] });
    p.mount('', '/mnt/dst', null, { flags: ['MS_SLAVE'] });
    p.mount('', '/mnt/src', null, { flags: ['MS_PRIVATE'] });
    expect(mountsUnder(p, '/mnt')).toEqual(['/mnt/src tmpfs', '/mnt/dst tmpfs']);
  });

  it('umount propagates to the copies under peers', () => {
    const { p } = setup();
    p.mount('', '/mnt/src', null, { flags: ['MS_SHARED'] });
    p.mount('/mnt/src', '/mnt/dst', null, { flags: ['MS_BIND'] });
    p.mount('none', '/mnt/src/a', 'tmpfs');
    expect(mountsUnder(p, '/mnt/dst/a')).toHaveLength(1);
    p.umount('/mnt/src/a');
    expect(mountsUnder(p, '/mnt')).toEqual(['/mnt/src shared:1 tmpfs', '/mnt/dst shared:1 tmpfs']);
  });

  it('unshare(CLONE_NEWNS) copies every mount with new IDs and the same propagation', () => {
    const k = new Kernel({ sharedRoot: true });
    const host = k.init;
    const child = host.clone({ namespaces: ['mnt'] });
    const h = host.mountinfo();
    const c = child.mountinfo();
    expect(c.map((e) => e.mountPoint)).toEqual(h.map((e) => e.mountPoint));
    for (const [i, e] of c.entries()) {
      expect(e.mountId).not.toBe(h[i]?.mountId);
      expect(e.shared).toBe(h[i]?.shared);
    }
    expect(child.nsLink('mnt')).not.toBe(host.nsLink('mnt'));
    expect(child.nsLink('net')).toBe(host.nsLink('net'));
    // Peers across namespaces: a mount in the child shows up on the host (the systemd surprise).
    child.mount('none', '/mnt', 'tmpfs');
    // (group 1 is / itself)
    expect(mountsUnder(host, '/mnt')).toEqual(['/mnt shared:2 tmpfs']);
  });

  it('propagate_from names the nearest dominating group visible from the root', () => {
    const p = new Kernel().init;
    for (const d of ['/x/a', '/x/c', '/y/b']) p.mkdirp(d);
    p.mount('none', '/x/a', 'tmpfs');
    p.mount('', '/x/a', null, { flags: ['MS_SHARED'] }); // A: shared:1
    p.mount('/x/a', '/y/b', null, { flags: ['MS_BIND'] }); // B: peer of A
    p.mount('', '/y/b', null, { flags: ['MS_SLAVE'] }); // B: master:1
    p.mount('', '/y/b', null, { flags: ['MS_SHARED'] }); // B: shared:2 master:1
    p.mount('/y/b', '/x/c', null, { flags: ['MS_BIND'] }); // C: peer of B
    p.mount('', '/x/c', null, { flags: ['MS_SLAVE'] }); // C: master:2
    expect(mountsUnder(p, '/x')).toEqual(['/x/a shared:1 tmpfs', '/x/c master:2 tmpfs']);
    const c = p.clone();
    c.chroot('/x');
    // B (group 2) is outside the new root; A (group 1, B's master) is visible: it dominates C.
    expect(mountsUnder(c, '')).toEqual(['/a shared:1 tmpfs', '/c master:2 propagate_from:1 tmpfs']);
    expect(c.readMountinfo()).toMatch(/ \/c rw,relatime master:2 propagate_from:1 - tmpfs none rw\n$/);
  });
});
