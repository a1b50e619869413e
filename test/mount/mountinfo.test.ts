import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  MountinfoParseError,
  mountinfoToMounts,
  normaliseMountinfo,
  parseMounts,
  parseMountinfo,
  renderMounts,
  renderMountinfo,
} from '../../shared/src/mount/mountinfo.js';

const PROC_EXAMPLE = '36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n';

describe('mountinfo parser and renderer', () => {
  it("round-trips this machine's /proc/self/mountinfo byte for byte", () => {
    const text = readFileSync('/proc/self/mountinfo', 'utf8');
    const entries = parseMountinfo(text);
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.some((e) => e.mountPoint === '/')).toBe(true);
    expect(renderMountinfo(entries)).toBe(text);
  });

  it("round-trips this machine's /proc/self/mounts, and derives it from mountinfo", () => {
    const mounts = readFileSync('/proc/self/mounts', 'utf8');
    expect(renderMounts(parseMounts(mounts))).toBe(mounts);
    const info = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    expect(renderMounts(info.map(mountinfoToMounts))).toBe(mounts);
  });

  it('parses the example from Documentation/filesystems/proc.rst', () => {
    const [e] = parseMountinfo(PROC_EXAMPLE);
    expect(e).toEqual({
      mountId: 36,
      parentId: 35,
      major: 98,
      minor: 0,
      root: '/mnt1',
      mountPoint: '/mnt/parent',
      mountOptions: ['rw', 'noatime'],
      shared: null,
      master: 1,
      propagateFrom: null,
      unbindable: false,
      otherFields: [],
      fsType: 'ext3',
      source: '/dev/root',
      superOptions: ['rw', 'errors=continue'],
    });
    expect(renderMountinfo(parseMountinfo(PROC_EXAMPLE))).toBe(PROC_EXAMPLE);
  });

  it('decodes and re-encodes octal escapes (space, tab, newline, backslash; # in the source)', () => {
    const line =
      '62 42 0:38 /a\\134b /tmp/x/a\\040b#c\\011d\\012e rw,relatime - tmpfs sr\\040c\\043x rw,size=4k\n';
    const [e] = parseMountinfo(line);
    expect(e?.root).toBe('/a\\b');
    expect(e?.mountPoint).toBe('/tmp/x/a b#c\td\ne');
    expect(e?.source).toBe('sr c#x');
    expect(renderMountinfo(parseMountinfo(line))).toBe(line);
  });

  it('parses every optional field and renders them in the kernel order', () => {
    const line = '65 62 0:38 /sub /mnt/b rw,relatime shared:3 master:1 propagate_from:2 - tmpfs none rw\n';
    const [e] = parseMountinfo(line);
    expect([e?.shared, e?.master, e?.propagateFrom, e?.unbindable]).toEqual([3, 1, 2, false]);
    expect(renderMountinfo(parseMountinfo(line))).toBe(line);
    const unb = '70 26 0:40 / /u ro,nosuid unbindable - tmpfs tmpfs ro\n';
    expect(parseMountinfo(unb)[0]?.unbindable).toBe(true);
    expect(renderMountinfo(parseMountinfo(unb))).toBe(unb);
    const unknown = '70 26 0:40 / /u rw shared:1 future:9 - tmpfs tmpfs rw\n';
    expect(parseMountinfo(unknown)[0]?.otherFields).toEqual(['future:9']);
    expect(renderMountinfo(parseMountinfo(unknown))).toBe(unknown);
  });

  it('keeps an empty source (mount("", ...)) as an empty field', () => {
    const line = '80 26 0:41 / /tmp rw,relatime - tmpfs  rw\n';
    const [e] = parseMountinfo(line);
    expect(e?.source).toBe('');
    expect(renderMountinfo(parseMountinfo(line))).toBe(line);
  });

  it('names the line number of a malformed line', () => {
    const bad = PROC_EXAMPLE + '37 35 98:0 / /x rw master:1 ext3 /dev/root rw\n';
    expect(() => parseMountinfo(bad)).toThrow(MountinfoParseError);
    expect(() => parseMountinfo(bad)).toThrow(/line 2\b/);
    let caught: unknown = null;
    try {
      parseMountinfo(PROC_EXAMPLE + PROC_EXAMPLE + 'x 35 98:0 / /x rw - ext3 /dev/root rw\n');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MountinfoParseError);
    expect((caught as MountinfoParseError).lineNumber).toBe(3);
    expect((caught as Error).message).toMatch(/mount ID/);
    expect(() => parseMountinfo('1 2 3 / /x rw - ext3 r rw')).toThrow(/line 1: bad major:minor/);
    expect(() => parseMountinfo('1 2 0:3 / /x rw - ext3 r rw extra')).toThrow(/3 fields after/);
    expect(() => parseMountinfo('1 2 0:3 / /x xx - ext3 r rw')).toThrow(/rw\/ro/);
  });

  it('normalises IDs, peer groups, devices and path prefixes', () => {
    const a = parseMountinfo(
      [
        '100 42 0:38 / /tmp/run-a/m rw,relatime shared:7 - tmpfs none rw',
        '101 100 0:38 /sub /tmp/run-a/m/sub rw,relatime shared:7 - tmpfs none rw',
        '103 42 0:52 / /tmp/run-a/o rw - overlay overlay rw,lowerdir=/tmp/run-a/l1:/tmp/run-a/l2,upperdir=/tmp/run-a/u',
        '104 42 0:60 / /tmp/run-a/s rw master:7 - tmpfs none rw',
        '',
      ].join('\n'),
    );
    const b = parseMountinfo(
      [
        '31 5 0:90 / /T/m rw,relatime shared:2 - tmpfs none rw',
        '33 31 0:90 /sub /T/m/sub rw,relatime shared:2 - tmpfs none rw',
        '35 5 0:7 / /T/o rw - overlay overlay rw,lowerdir=/T/l1:/T/l2,upperdir=/T/u',
        '36 5 0:91 / /T/s rw master:2 - tmpfs none rw',
        '',
      ].join('\n'),
    );
    const na = normaliseMountinfo(a, { replacePrefixes: [['/tmp/run-a', '/T']] });
    const nb = normaliseMountinfo(b);
    expect(na).toEqual(nb);
    expect(renderMountinfo(na)).toBe(
      [
        '1 5 0:1 / /T/m rw,relatime shared:1 - tmpfs none rw',
        '2 1 0:1 /sub /T/m/sub rw,relatime shared:1 - tmpfs none rw',
        '3 5 0:2 / /T/o rw - overlay overlay rw,lowerdir=/T/l1:/T/l2,upperdir=/T/u',
        '4 5 0:3 / /T/s rw master:1 - tmpfs none rw',
        '',
      ].join('\n'),
    );
    // Prefixes only match whole path components.
    const [c] = normaliseMountinfo(parseMountinfo('1 0 0:1 / /tmp/run-ab rw - tmpfs none rw\n'), {
      replacePrefixes: [['/tmp/run-a', '/T']],
    });
    expect(c?.mountPoint).toBe('/tmp/run-ab');
    // The input is left alone.
    expect(a[0]?.mountId).toBe(100);
  });
});
