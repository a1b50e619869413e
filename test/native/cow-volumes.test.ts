// Copy-on-write in the container's upper layer, and volumes that bypass it (seed experiments 8, 12).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lgetxattr } from '../../backend-native/src/libc.js';
import { destroyRoot, ok, requireNativePrerequisites, strata, tempRoot } from '../helpers/strata.js';

let root: string;
beforeAll(() => {
  requireNativePrerequisites();
  root = tempRoot('cow');
});
afterAll(() => destroyRoot(root));

function graph(id: string): { upper: string; lowers: string[] } {
  const data = JSON.parse(ok(root, ['inspect', '-f', '{{json .GraphDriver.Data}}', id])) as Record<
    string,
    string
  >;
  return { upper: data.UpperDir!, lowers: data.LowerDir!.split(':') };
}

describe('copy-on-write', () => {
  it('copies a modified lower file up, leaves whiteouts for deletions and makes replaced dirs opaque', () => {
    const id = ok(root, [
      'create',
      'busybox',
      'sh',
      '-c',
      'echo changed >> /etc/passwd; rm /bin/vi; rm -rf /var/spool && mkdir -p /var/spool && touch /var/spool/new; echo fresh > /added',
    ]).trim();
    const { upper, lowers } = graph(id);
    const base = lowers[lowers.length - 1]!;
    const lowerPasswd = fs.readFileSync(path.join(base, 'etc/passwd'), 'utf8');
    expect(strata(root, ['start', '-a', id]).code).toBe(0);

    // The change landed in the upper dir; the image layer is untouched.
    expect(fs.readFileSync(path.join(upper, 'etc/passwd'), 'utf8')).toBe(lowerPasswd + 'changed\n');
    expect(fs.readFileSync(path.join(base, 'etc/passwd'), 'utf8')).toBe(lowerPasswd);
    expect(fs.readFileSync(path.join(upper, 'added'), 'utf8')).toBe('fresh\n');

    // A deleted lower file is a whiteout: a character device 0/0 in the upper dir.
    const wh = fs.lstatSync(path.join(upper, 'bin/vi'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(fs.lstatSync(path.join(base, 'bin/vi')).isSymbolicLink()).toBe(true);

    // A directory removed and made again hides the lower one entirely: opaque.
    expect(lgetxattr(path.join(upper, 'var/spool'), 'trusted.overlay.opaque')).toBe('y');
    expect(fs.readdirSync(path.join(upper, 'var/spool'))).toEqual(['new']);
    expect(fs.readdirSync(path.join(base, 'var/spool'))).toEqual(['mail']);

    // And a second container from the same image sees the original files.
    expect(
      ok(root, ['run', '--rm', 'busybox', 'sh', '-c', 'ls /var/spool; test -e /bin/vi && echo vi']),
    ).toBe('mail\nvi\n');
    ok(root, ['rm', id]);
  });

  it('refuses writes everywhere with --read-only', () => {
    const r = strata(root, ['run', '--rm', '--read-only', 'busybox', 'touch', '/x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Read-only file system');
  });
});

describe('volumes', () => {
  it('binds a host dir and an anonymous volume, both visible on the host, neither in the upper dir', () => {
    const hostDir = fs.mkdtempSync(path.join(root, 'bind-'));
    fs.writeFileSync(path.join(hostDir, 'from-host'), 'host\n');
    const id = ok(root, [
      'create',
      '-v',
      `${hostDir}:/data`,
      '-v',
      '/anon',
      'busybox',
      'sh',
      '-c',
      'cat /data/from-host; echo in > /data/from-ctr; echo anon > /anon/file',
    ]).trim();
    const r = strata(root, ['start', '-a', id]);
    expect(r.stdout).toBe('host\n');
    expect(fs.readFileSync(path.join(hostDir, 'from-ctr'), 'utf8')).toBe('in\n');

    const mounts = JSON.parse(ok(root, ['inspect', '-f', '{{json .Mounts}}', id])) as Array<
      Record<string, string | boolean>
    >;
    const anon = mounts.find((m) => m.Destination === '/anon')!;
    expect(anon.Type).toBe('volume');
    expect(anon.Source).toBe(`${root}/volumes/${anon.Name}/_data`);
    expect(fs.readFileSync(path.join(anon.Source as string, 'file'), 'utf8')).toBe('anon\n');
    expect(ok(root, ['volume', 'ls', '-q'])).toContain(anon.Name as string);

    const { upper } = graph(id);
    // Only the (empty) mount points exist in the upper layer, as the write-ups point out.
    expect(fs.readdirSync(path.join(upper, 'data'))).toEqual([]);
    expect(fs.readdirSync(path.join(upper, 'anon'))).toEqual([]);

    // A volume in use cannot be removed; rm -v takes the anonymous one along.
    expect(strata(root, ['volume', 'rm', anon.Name as string]).stderr).toContain('volume is in use');
    ok(root, ['rm', '-v', id]);
    expect(fs.existsSync(anon.Source as string)).toBe(false);
    expect(fs.readFileSync(path.join(hostDir, 'from-host'), 'utf8')).toBe('host\n');
  });

  it('refuses writes through a :ro bind', () => {
    const hostDir = fs.mkdtempSync(path.join(root, 'ro-'));
    const r = strata(root, ['run', '--rm', '-v', `${hostDir}:/ro:ro`, 'busybox', 'touch', '/ro/x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Read-only file system');
    expect(fs.readdirSync(hostDir)).toEqual([]);
  });

  it('shares a named volume between containers', () => {
    ok(root, ['volume', 'create', 'shared-data']);
    ok(root, ['run', '--rm', '-v', 'shared-data:/v', 'busybox', 'sh', '-c', 'echo one > /v/f']);
    expect(ok(root, ['run', '--rm', '-v', 'shared-data:/w', 'busybox', 'cat', '/w/f'])).toBe('one\n');
    const [v] = JSON.parse(ok(root, ['volume', 'inspect', 'shared-data'])) as Array<Record<string, string>>;
    expect(v!.Mountpoint).toBe(`${root}/volumes/shared-data/_data`);
    ok(root, ['volume', 'rm', 'shared-data']);
    expect(ok(root, ['volume', 'ls', '-q'])).not.toContain('shared-data');
  });

  it('does not follow a symlink in the rootfs that points a volume target at the host', () => {
    const hostDir = fs.mkdtempSync(path.join(root, 'sym-'));
    const id = ok(root, [
      'create',
      '-v',
      `${hostDir}:/tmp/escape/strata-evil`,
      'busybox',
      'ls',
      '/tmp/escape',
    ]).trim();
    // As if a layer shipped /tmp/escape -> / : resolved inside the rootfs, never on the host.
    fs.mkdirSync(path.join(graph(id).upper, 'tmp'), { recursive: true });
    fs.symlinkSync('/', path.join(graph(id).upper, 'tmp', 'escape'));
    const r = strata(root, ['start', '-a', id]);
    expect(r.code).toBe(0);
    expect(fs.existsSync('/strata-evil')).toBe(false);
    expect(fs.existsSync(path.join(graph(id).upper, 'strata-evil'))).toBe(true);
    ok(root, ['rm', id]);
  });
});
