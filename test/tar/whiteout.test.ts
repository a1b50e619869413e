// OCI whiteouts <-> overlayfs whiteouts: tarDirectory turns 0/0 character devices and opaque
// directories into `.wh.NAME` and `DIR/.wh..wh..opq` entries; extractTar turns them back into
// hook calls.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { extractTar, readTar, tarDirectory, type ExtractHooks } from '../../shared/src/tar/index.js';
import { collect, isRoot, readAll, sh, tempDir } from './util.js';

let work: { dir: string; cleanup: () => void };
let upper: string;

beforeEach(() => {
  work = tempDir('strata-wh-');
  upper = join(work.dir, 'upper');
  mkdirSync(join(upper, 'etc'), { recursive: true });
  mkdirSync(join(upper, 'opq/sub'), { recursive: true });
  writeFileSync(join(upper, 'etc/kept'), 'kept');
  writeFileSync(join(upper, 'opq/new'), 'new');
  if (isRoot) {
    sh('mknod', [join(upper, 'etc/removed'), 'c', '0', '0']);
    sh('mknod', [join(upper, 'gone'), 'c', '0', '0']);
    sh('mknod', [join(upper, 'null'), 'c', '1', '3']);
  }
});

afterEach(() => work.cleanup());

const opaqueDirs = new Set(['opq', 'opq/sub']);
const isOpaque = (p: string): boolean => opaqueDirs.has(p);

/** Hooks that do what the native backend does: 0/0 char devices and a record of opaque dirs. */
function overlayHooks(root: string, opaque: Set<string>): ExtractHooks {
  return {
    whiteout: (p) => void sh('mknod', [p, 'c', '0', '0']),
    opaque: (p) => void opaque.add(p.slice(root.length + 1)),
    mknod: (p, e) =>
      void sh('mknod', [p, e.type === 'block' ? 'b' : 'c', String(e.devmajor), String(e.devminor)]),
  };
}

describe('whiteouts (needs root for mknod)', () => {
  beforeAll(() => {
    // CI runs as root: without it these tests must fail, never skip silently.
    if (!isRoot) throw new Error('whiteout tests need root (mknod of 0/0 character devices)');
  });

  it('tarDirectory converts overlay whiteouts to OCI entries', async () => {
    const entries = await readAll(tarDirectory(upper, { whiteouts: 'overlay', isOpaque }));
    expect(entries.map((e) => `${e.type} ${e.path}`)).toEqual([
      'dir etc/',
      'file etc/kept',
      'file etc/.wh.removed',
      'file .wh.gone',
      'char null',
      'dir opq/',
      'file opq/.wh..wh..opq',
      'file opq/new',
      'dir opq/sub/',
      'file opq/sub/.wh..wh..opq',
    ]);
    const wh = entries.find((e) => e.path === 'etc/.wh.removed');
    expect(wh).toMatchObject({ size: 0, mode: 0o600, content: '' });
    expect(entries.find((e) => e.path === 'null')).toMatchObject({ devmajor: 1, devminor: 3 });
  });

  it('without whiteouts: overlay, a 0/0 device is written as a device', async () => {
    const entries = await readAll(tarDirectory(upper, { isOpaque }));
    expect(entries.find((e) => e.path === 'gone')).toMatchObject({ type: 'char', devmajor: 0, devminor: 0 });
    expect(entries.some((e) => e.path.includes('.wh.'))).toBe(false);
  });

  it('GNU tar sees the whiteouts as empty regular files', async () => {
    const tarPath = join(work.dir, 'layer.tar');
    writeFileSync(tarPath, await collect(tarDirectory(upper, { whiteouts: 'overlay', isOpaque })));
    const listing = sh('tar', ['--numeric-owner', '-tvf', tarPath]).toString();
    expect(listing).toMatch(/^-rw------- 0\/0\s+0 .* etc\/\.wh\.removed$/m);
    expect(listing).toMatch(/^-rwxr-xr-x 0\/0\s+0 .* opq\/\.wh\.\.wh\.\.opq$/m);
  });

  it('extractTar turns OCI whiteouts into hook calls, opaque before the directory is filled', async () => {
    const dest = join(work.dir, 'dest');
    mkdirSync(dest);
    const calls: string[] = [];
    await extractTar(tarDirectory(upper, { whiteouts: 'overlay', isOpaque }), dest, {
      whiteout: (p) => void calls.push(`whiteout ${p}`),
      opaque: (p) => void calls.push(`opaque ${p} new-exists=${existsSync(join(p, 'new'))}`),
      mknod: (p) => {
        calls.push(`mknod ${p}`);
        writeFileSync(p, ''); // stand-in for the device node
      },
    });
    expect(calls).toEqual([
      `whiteout ${dest}/etc/removed`,
      `whiteout ${dest}/gone`,
      `mknod ${dest}/null`,
      `opaque ${dest}/opq new-exists=false`,
      `opaque ${dest}/opq/sub new-exists=false`,
    ]);
    expect(existsSync(join(dest, '.wh.gone'))).toBe(false);
    expect(existsSync(join(dest, 'opq/.wh..wh..opq'))).toBe(false);
  });

  it('both ways: overlay dir -> OCI layer -> overlay dir -> the same layer bytes', async () => {
    const layer = await collect(tarDirectory(upper, { whiteouts: 'overlay', isOpaque, deterministic: true }));
    const dest = join(work.dir, 'dest');
    mkdirSync(dest);
    const opaque = new Set<string>();
    await extractTar([layer], dest, overlayHooks(dest, opaque));
    expect([...opaque].sort()).toEqual(['opq', 'opq/sub']);
    const again = await collect(
      tarDirectory(dest, { whiteouts: 'overlay', isOpaque: (p) => opaque.has(p), deterministic: true }),
    );
    expect(again.equals(layer)).toBe(true);
  });

  it('whiteout entries without hooks are refused, naming the entry', async () => {
    const dest = join(work.dir, 'dest');
    mkdirSync(dest);
    const layer = await collect(tarDirectory(upper, { whiteouts: 'overlay', isOpaque }));
    await expect(extractTar([layer], dest)).rejects.toThrow(
      /whiteout but no whiteout hook \(entry "etc\/\.wh\.removed"/,
    );
    const entries: string[] = [];
    for await (const e of readTar([layer])) entries.push(e.path);
    expect(entries).toContain('opq/.wh..wh..opq');
  });
});
