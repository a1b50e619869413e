// Namespaces and the rootfs: what a process inside a strata container sees, compared with the host.
// PID 1, hostname and exec's namespaces are shared cases run on both backends: test/cases/containers.ts.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMountinfo } from '../../shared/src/mount/mountinfo.js';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../../shared/src/security.js';
import {
  destroyRoot,
  hostMountPoints,
  inspect,
  ok,
  requireNativePrerequisites,
  strata,
  tempRoot,
  type InspectedContainer,
  type InspectedImage,
} from '../helpers/strata.js';

let root: string;
beforeAll(() => {
  requireNativePrerequisites();
  root = tempRoot('iso');
});
afterAll(() => destroyRoot(root));

describe('the container rootfs', () => {
  it("shows an overlay root and none of the host's mounts in /proc/self/mountinfo", () => {
    const text = ok(root, ['run', '--rm', 'busybox', 'cat', '/proc/self/mountinfo']);
    const mounts = parseMountinfo(text);
    const rootMount = mounts.find((m) => m.mountPoint === '/');
    expect(rootMount?.fsType).toBe('overlay');
    const opts = rootMount!.superOptions.join(',');
    expect(opts).toMatch(
      new RegExp(`lowerdir=${root}/overlay2/l/[A-Z0-9]{26}:${root}/overlay2/l/[A-Z0-9]{26}`),
    );
    expect(opts).toMatch(new RegExp(`upperdir=${root}/overlay2/[a-f0-9]{64}/diff`));
    // Docker's masked and read-only paths (those this kernel has) are mounts of their own.
    const confined = new Set([...DEFAULT_MASKED_PATHS, ...DEFAULT_READONLY_PATHS]);
    const points = mounts
      .map((m) => m.mountPoint)
      .filter((p) => !confined.has(p))
      .sort();
    expect(mounts.map((m) => m.mountPoint)).toContain('/proc/sys');
    expect(points).toEqual(
      [
        '/',
        '/dev',
        '/dev/mqueue',
        '/dev/pts',
        '/dev/shm',
        '/etc/hostname',
        '/etc/hosts',
        '/etc/resolv.conf',
        '/proc',
        '/sys',
      ].sort(),
    );
    // No host path (the store root, /work, /mnt...) is reachable as a mount point.
    for (const m of mounts) expect(m.mountPoint.startsWith(root)).toBe(false);
  });

  it('keeps a tmpfs mounted on /tmp inside invisible to the host (seed experiment 2)', () => {
    const before = hostMountPoints(root);
    const r = strata(root, [
      'run',
      '--rm',
      '--cap-add', // mounting needs CAP_SYS_ADMIN, as in Docker
      'SYS_ADMIN',
      'busybox',
      'sh',
      '-c',
      'mount -t tmpfs none /tmp && mount | grep " /tmp " && ls -A /tmp | wc -l',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('none on /tmp type tmpfs (rw,relatime)');
    expect(r.stdout.trim().endsWith('0')).toBe(true);
    expect(hostMountPoints(root)).toEqual(before);
  });

  it('defaults the hostname to the short container ID, as Docker', () => {
    const id = ok(root, ['create', 'busybox', 'hostname']).trim();
    const r = strata(root, ['start', '-a', id]);
    expect(r.stdout.trim()).toBe(id.slice(0, 12));
    ok(root, ['rm', id]);
  });

  it('gives the container only a loopback interface, and it is up', () => {
    // --net none: the default is a bridge now (test/native/network.test.ts).
    const out = ok(root, [
      'run',
      '--rm',
      '--net',
      'none',
      'busybox',
      'sh',
      '-c',
      'ls /sys/class/net; cat /sys/class/net/lo/operstate; ping -c1 -W1 127.0.0.1 >/dev/null && echo pong',
    ]);
    expect(out.split('\n')[0]).toBe('lo');
    expect(out).toContain('pong');
  });

  it("uses the image's Env and the -e, -w flags", () => {
    const out = ok(root, [
      'run',
      '--rm',
      '-e',
      'GREETING=hi there',
      '-w',
      '/work/dir',
      'busybox',
      'sh',
      '-c',
      'echo "$GREETING"; pwd; echo $PATH',
    ]);
    expect(out.split('\n')).toEqual([
      'hi there',
      '/work/dir',
      '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      '',
    ]);
  });

  it('honours --user with names from the image and supplementary groups', () => {
    expect(ok(root, ['run', '--rm', '-u', 'nobody', 'busybox', 'id']).trim()).toBe(
      'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)',
    );
    // The image's /etc/group puts root in wheel: a supplementary group of the payload.
    expect(ok(root, ['run', '--rm', 'busybox', 'id']).trim()).toBe(
      'uid=0(root) gid=0(root) groups=0(root),10(wheel)',
    );
    expect(ok(root, ['run', '--rm', '-u', '1234:5678', 'busybox', 'id', '-u']).trim()).toBe('1234');
  });

  it('has the devices and /dev links a container expects', () => {
    const out = ok(root, [
      'run',
      '--rm',
      'busybox',
      'sh',
      '-c',
      'ls /dev; echo x > /dev/null && head -c 4 /dev/zero | wc -c; readlink /dev/fd',
    ]);
    for (const d of [
      'null',
      'zero',
      'full',
      'random',
      'urandom',
      'tty',
      'pts',
      'shm',
      'mqueue',
      'ptmx',
      'stdin',
      'stdout',
      'stderr',
    ]) {
      expect(out.split('\n')).toContain(d);
    }
    expect(out).toContain('\n4\n/proc/self/fd\n');
  });
});

describe('exec and inspect', () => {
  it("shows Docker's inspect shape: GraphDriver dirs that exist, RootFS layers for images", () => {
    const id = ok(root, ['create', '--name', 'shape', 'busybox', 'true']).trim();
    const c = inspect<InspectedContainer>(root, 'shape');
    expect(c.Id).toBe(id);
    expect(c.Name).toBe('/shape');
    expect(c.State.Status).toBe('created');
    const data = c.GraphDriver.Data;
    expect(data.UpperDir).toBe(`${root}/overlay2/${id}/diff`);
    expect(data.WorkDir).toBe(`${root}/overlay2/${id}/work`);
    expect(data.MergedDir).toBe(`${root}/overlay2/${id}/merged`);
    const lowers = data.LowerDir!.split(':');
    expect(lowers[0]).toBe(`${root}/overlay2/${id}-init/diff`);
    for (const d of [...lowers, data.UpperDir!]) expect(fs.statSync(d).isDirectory()).toBe(true);
    expect(fs.readFileSync(`${root}/overlay2/${id}/lower`, 'utf8')).toMatch(
      /^l\/[A-Z0-9]{26}:l\/[A-Z0-9]{26}$/,
    );
    expect(
      fs.readlinkSync(`${root}/overlay2/l/${fs.readFileSync(`${root}/overlay2/${id}/link`, 'utf8')}`),
    ).toBe(`../${id}/diff`);
    // The -init layer holds what the runtime writes over the image.
    expect(fs.readdirSync(lowers[0]!).sort()).toEqual(['dev', 'etc', 'proc', 'sys']);
    expect(fs.readdirSync(`${lowers[0]}/etc`).sort()).toEqual(['hostname', 'hosts', 'mtab', 'resolv.conf']);
    const img = inspect<InspectedImage>(root, 'busybox');
    expect(img.RootFS.Layers).toHaveLength(1);
    expect(img.RootFS.Layers[0]).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(img.Config.Cmd).toEqual(['sh']);
    expect(
      ok(root, ['inspect', '-f', '{{json .Config.Cmd}} {{index .Config.Labels "x"}}', 'shape']).trim(),
    ).toBe('["true"] <no value>');
    ok(root, ['rm', 'shape']);
  });
});
