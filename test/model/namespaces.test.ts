// Processes and namespaces: clone/unshare/setns, /proc/PID/ns links, PID numbering, procfs.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Kernel, NS_KINDS } from '../../shared/src/model/index.js';
import type { NsKind } from '../../shared/src/model/index.js';
import { errnoOf } from './helpers.js';
import { requireRealKernel } from './real-kernel.js';

describe('namespaces in the model', () => {
  it('init has the well-known initial inode numbers; new namespaces get fresh ones', () => {
    const k = new Kernel();
    const init = k.init;
    expect(init.nsLink('ipc')).toBe('ipc:[4026531839]');
    expect(init.nsLink('uts')).toBe('uts:[4026531838]');
    expect(init.nsLink('pid')).toBe('pid:[4026531836]');
    expect(init.nsLink('cgroup')).toBe('cgroup:[4026531835]');
    expect(init.nsLink('net')).toBe('net:[4026531840]');
    expect(init.nsLink('mnt')).toBe('mnt:[4026531841]');
    const c = init.clone({ namespaces: ['uts', 'net'] });
    expect(c.nsLink('uts')).toBe('uts:[4026531842]');
    expect(c.nsLink('net')).toBe('net:[4026531843]');
    expect(c.nsLink('mnt')).toBe(init.nsLink('mnt'));
  });

  it('clone with CLONE_NEWPID: the child is PID 1 inside and has a host PID too', () => {
    const k = new Kernel();
    const shell = k.init.clone();
    const c = shell.clone({ namespaces: ['pid', 'mnt'] });
    expect(c.pidIn(c.ns.pid)).toBe(1);
    expect(c.pid).toBe(3);
    expect(c.pidIn(k.init.ns.pid)).toBe(3);
    const grandchild = c.clone();
    expect(grandchild.pidIn(c.ns.pid)).toBe(2);
    // /proc mounted inside shows the inside PIDs; self is the caller.
    c.mount('proc', '/proc', 'proc');
    expect(c.readdir('/proc')).toEqual(['1', '2', 'self']);
    expect(c.readlink('/proc/self')).toBe('1');
    expect(grandchild.readlink('/proc/self')).toBe('2');
    expect(c.readlink('/proc/1/ns/pid')).toBe(c.nsLink('pid'));
  });

  it('unshare(CLONE_NEWPID) changes pid_for_children only', () => {
    const k = new Kernel();
    const p = k.init.clone();
    const before = p.nsLink('pid');
    p.unshare(['pid']);
    expect(p.nsLink('pid')).toBe(before);
    expect(p.nsLink('pid_for_children')).not.toBe(before);
    const c = p.clone();
    expect(c.nsLink('pid')).toBe(p.nsLink('pid_for_children'));
    expect(c.pidIn(c.ns.pid)).toBe(1);
  });

  it('when the last process of a mount namespace exits, its mounts leave their peer groups', () => {
    const k = new Kernel({ sharedRoot: true });
    const c = k.init.clone({ namespaces: ['mnt'] });
    k.init.mount('none', '/mnt', 'tmpfs'); // shared: propagates into c's copy of /
    expect(c.mountinfo().map((e) => e.mountPoint)).toContain('/mnt');
    const before = k.peers(1).length;
    c.exit();
    expect(k.peers(1).length).toBe(before - 1);
    expect(k.init.mountinfo().map((e) => `${e.mountPoint} ${e.shared}`)).toEqual(['/ 1', '/mnt 2']);
  });

  it('uts: a new namespace copies the hostname, then changes stay inside', () => {
    const k = new Kernel({ hostname: 'host' });
    const c = k.init.clone({ namespaces: ['uts'] });
    expect(c.hostname).toBe('host');
    c.sethostname('container');
    expect(k.init.hostname).toBe('host');
  });

  it('experiment 10, exec is setns: joining the net namespace gives the same ns link', () => {
    const k = new Kernel();
    const container = k.init.clone({ namespaces: [...NS_KINDS] });
    container.mount('proc', '/proc', 'proc');
    const pid = String(container.pidIn(k.init.ns.pid));
    const tool = k.init.clone();
    // The host sees the container through its own /proc.
    k.init.mount('proc', '/proc', 'proc');
    expect(k.init.readlink(`/proc/${pid}/ns/net`)).toBe(container.nsLink('net'));
    tool.setns(container, 'net');
    expect(tool.nsLink('net')).toBe(container.nsLink('net'));
    expect(tool.nsLink('mnt')).toBe(k.init.nsLink('mnt'));
    // Joining the mount namespace moves root and cwd to that namespace's root.
    tool.setns(container, 'mnt');
    expect(tool.readdir('/')).toEqual(k.init.readdir('/'));
    // The container's /proc belongs to its PID namespace: the tool is not in it until it joins and forks.
    expect(errnoOf(() => tool.readlink('/proc/self'))).toBe('ENOENT');
    tool.setns(container, 'pid');
    const child = tool.clone();
    expect(child.readlink('/proc/self')).toBe(String(child.pidIn(container.ns.pid)));
    expect(child.readlink('/proc/self')).toBe('2');
  });

  it('procfs: /proc/PID/mountinfo renders relative to that process; procfs is read-only', () => {
    const k = new Kernel();
    const p = k.init;
    p.mount('proc', '/proc', 'proc');
    expect(p.readFile('/proc/self/mountinfo')).toBe(p.readMountinfo());
    expect(p.readFile('/proc/1/mounts')).toMatch(
      /^\/dev\/vda \/ ext4 rw,relatime,discard 0 0\nproc \/proc proc rw,relatime 0 0\n$/,
    );
    expect(errnoOf(() => p.writeFile('/proc/x', 'y'))).toBe('EPERM');
  });

  it('errors: umount of a non-mount point, a busy mount, the namespace root', () => {
    const p = new Kernel().init;
    expect(errnoOf(() => p.umount('/tmp'))).toBe('EINVAL');
    p.mount('none', '/mnt', 'tmpfs');
    p.mkdir('/mnt/a');
    p.mount('none', '/mnt/a', 'tmpfs');
    expect(errnoOf(() => p.umount('/mnt'))).toBe('EBUSY');
    p.chdir('/mnt/a');
    expect(errnoOf(() => p.umount('/mnt/a'))).toBe('EBUSY');
    p.umount('/mnt', { detach: true });
    // Still usable through the cwd after a lazy umount, but gone from the table.
    p.writeFile('still-here', 'x');
    expect(p.readFile('still-here')).toBe('x');
    expect(p.mountinfo().map((e) => e.mountPoint)).toEqual(['/']);
    expect(errnoOf(() => p.rmdir('/nope'))).toBe('ENOENT');
    p.chdir('/');
    p.mount('none', '/mnt', 'tmpfs');
    expect(errnoOf(() => p.rmdir('/mnt'))).toBe('EBUSY');
    expect(errnoOf(() => p.rename('/mnt', '/mnt2'))).toBe('EBUSY');
    expect(errnoOf(() => p.mount('none', '/nope', 'tmpfs'))).toBe('ENOENT');
    expect(errnoOf(() => p.mount('none', '/mnt', 'ext9'))).toBe('ENODEV');
  });
});

describe('namespaces: model vs real kernel', () => {
  it('which /proc/self/ns links change under unshare -m -u -i -n -C -p -f', () => {
    requireRealKernel();
    const kinds: NsKind[] = ['mnt', 'uts', 'ipc', 'net', 'cgroup', 'pid'];
    const read = (args: string[]): string[] =>
      execFileSync(
        'unshare',
        [...args, 'sh', '-c', `for k in ${kinds.join(' ')}; do readlink /proc/self/ns/$k; done`],
        {
          encoding: 'utf8',
        },
      )
        .trim()
        .split('\n');
    const host = read([]);
    const inside = read(['-m', '-u', '-i', '-n', '-C', '-p', '-f']);
    const realChanged = kinds.map((_, i) => host[i] !== inside[i]);
    const k = new Kernel();
    const c = k.init.clone({ namespaces: kinds });
    const modelChanged = kinds.map((kind) => c.nsLink(kind) !== k.init.nsLink(kind));
    expect(modelChanged).toEqual(realChanged);
    expect(realChanged).toEqual([true, true, true, true, true, true]);
    // Same format: "kind:[inode]".
    for (const [i, kind] of kinds.entries()) {
      expect(inside[i]).toMatch(new RegExp(`^${kind}:\\[\\d+\\]$`));
      expect(c.nsLink(kind)).toMatch(new RegExp(`^${kind}:\\[\\d+\\]$`));
    }
  });
});
