// Interoperability with GNU tar: archives we write are listed and extracted identically by
// `tar -tvf` / `tar -xf`, and archives GNU tar writes (pax and gnu formats, long names) read and
// extract identically with our code.

import { chmodSync, chownSync, linkSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractTar, readTar, tarDirectory } from '../../shared/src/tar/index.js';
import { collect, isRoot, plain, readAll, sh, snapshotTree, tempDir, type TreeNode } from './util.js';

let work: { dir: string; cleanup: () => void };
let src: string;

const longDir = `deep/${'d'.repeat(90)}/${'e'.repeat(90)}`;
const longFile = `${longDir}/${'f'.repeat(120)}`; // > 256 bytes in total

function buildTree(root: string): void {
  const w = (p: string, data: string | Buffer, mode = 0o644): void => {
    writeFileSync(join(root, p), data);
    chmodSync(join(root, p), mode);
  };
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'etc/sub'), { recursive: true });
  mkdirSync(join(root, longDir), { recursive: true });
  mkdirSync(join(root, 'private'));
  w('bin/tool', randomBytes(1024 * 1024 + 17), 0o4755);
  w('etc/empty', '');
  w('etc/exact512', Buffer.alloc(512, 0x42));
  w('etc/sub/config.json', '{"a":1}\n', 0o600);
  w(longFile, 'deep file\n');
  w('ünïcødé.txt', 'unicode\n');
  w('private/secret', 'shh', 0o400);
  chmodSync(join(root, 'private'), 0o700);
  symlinkSync('../etc/sub/config.json', join(root, 'bin/link'));
  symlinkSync(`${'../'.repeat(3)}${'t'.repeat(150)}`, join(root, 'etc/longlink'));
  linkSync(join(root, 'etc/sub/config.json'), join(root, 'etc/hard'));
  linkSync(join(root, 'etc/sub/config.json'), join(root, `${longDir}/${'h'.repeat(110)}`));
  sh('mkfifo', [join(root, 'etc/fifo')]);
  if (isRoot) {
    chownSync(join(root, 'etc/sub/config.json'), 1000, 1001);
    chownSync(join(root, 'private'), 65534, 65534);
  }
  // Fixed times, set deepest first (setting a child's time does not change its parent's).
  const all = snapshotTree(root)
    .map((n) => n.path)
    .reverse();
  let t = 1_600_000_000;
  for (const p of all) {
    if (!p.endsWith('link')) utimesSync(join(root, p), t, t);
    t += 3600;
  }
}

/** Drops what legitimately differs between trees: symlink mtimes (not all tools restore them). */
function comparable(nodes: TreeNode[]): TreeNode[] {
  return nodes.map((n) => (n.type === 'symlink' ? { ...n, mtime: 0 } : n));
}

function modeString(n: TreeNode): string {
  const t = { dir: 'd', file: '-', symlink: 'l', fifo: 'p', char: 'c', block: 'b' }[n.type] ?? '?';
  const m = n.mode ?? 0o777;
  const rwx = (bits: number, special: boolean, ch: string): string =>
    `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-'}`;
  return (
    t +
    rwx((m >> 6) & 7, (m & 0o4000) !== 0, 's') +
    rwx((m >> 3) & 7, (m & 0o2000) !== 0, 's') +
    rwx(m & 7, (m & 0o1000) !== 0, 't')
  );
}

beforeAll(() => {
  work = tempDir('strata-gnu-');
  src = join(work.dir, 'src');
  mkdirSync(src);
  buildTree(src);
});

afterAll(() => work.cleanup());

describe('our archives, read by GNU tar', () => {
  it('tar -tvf lists every entry with the right type, mode, owner, size and link', async () => {
    const tarPath = join(work.dir, 'ours.tar');
    writeFileSync(tarPath, await collect(tarDirectory(src)));
    const listing = sh('tar', ['--numeric-owner', '-tvf', tarPath]).toString('utf8').trimEnd().split('\n');
    const tree = snapshotTree(src);
    expect(listing.length).toBe(tree.length);
    const hardlinkSeen = new Set<string>();
    tree.forEach((n, i) => {
      const line = listing[i]!;
      const hard = n.linkGroup !== undefined && n.linkGroup !== n.path;
      const perms = hard ? `h${modeString(n).slice(1)}` : modeString(n);
      expect(line.startsWith(`${perms} ${n.uid}/${n.gid} `), `${line} vs ${perms} ${n.uid}/${n.gid}`).toBe(
        true,
      );
      const name = n.type === 'dir' ? `${n.path}/` : n.path;
      if (n.type === 'symlink') expect(line).toContain(` ${name} -> ${n.link}`);
      else if (hard) {
        expect(line).toContain(` ${name} link to ${n.linkGroup}`);
        hardlinkSeen.add(n.path);
      } else expect(line.endsWith(` ${name}`), line).toBe(true);
      if (n.type === 'file' && !hard) expect(line).toMatch(new RegExp(`\\s${n.size} \\d{4}-`));
    });
    expect(hardlinkSeen.size).toBe(2);
  });

  it('tar -xf extracts a tree identical to the source', async () => {
    const tarPath = join(work.dir, 'ours2.tar');
    writeFileSync(tarPath, await collect(tarDirectory(src)));
    const out = join(work.dir, 'gnu-extracted');
    mkdirSync(out);
    sh('tar', ['--numeric-owner', '-xpf', tarPath, '-C', out]);
    expect(comparable(snapshotTree(out))).toEqual(comparable(snapshotTree(src)));
  });
});

describe('GNU tar archives, read by us', () => {
  for (const format of ['pax', 'gnu'] as const) {
    it(`--format=${format}: entries match the source tree, long names included`, async () => {
      const tarPath = join(work.dir, `gnu-${format}.tar`);
      const top = snapshotTree(src)
        .filter((n) => !n.path.includes('/'))
        .map((n) => n.path);
      sh('tar', [`--format=${format}`, '--sort=name', '-cf', tarPath, '-C', src, ...top]);
      const tree = new Map(snapshotTree(src).map((n) => [n.path, n]));
      const seen: string[] = [];
      for await (const e of readTar([sh('cat', [tarPath])])) {
        const p = e.path.replace(/\/$/, '');
        seen.push(p);
        const n = tree.get(p);
        expect(n, `unexpected entry ${e.path}`).toBeDefined();
        if (!n) continue;
        const r = await plain(e);
        const hard = n.linkGroup !== undefined && n.linkGroup !== n.path;
        expect(r.type).toBe(hard ? 'hardlink' : n.type);
        if (n.type !== 'symlink') expect(r.mode).toBe(n.mode);
        expect([r.uid, r.gid]).toEqual([n.uid, n.gid]);
        if (n.type !== 'symlink') expect(Math.floor(r.mtime)).toBe(n.mtime);
        if (n.type === 'symlink') expect(r.linkpath).toBe(n.link);
        if (hard) expect(r.linkpath).toBe(n.linkGroup);
        if (n.type === 'file' && !hard) {
          expect(
            createHash('sha256')
              .update(Buffer.from(r.content ?? '', 'latin1'))
              .digest('hex'),
          ).toBe(n.sha);
        }
      }
      expect(seen.sort()).toEqual([...tree.keys()].sort());
      expect(seen).toContain(longFile);
    });

    it(`--format=${format}: extractTar rebuilds the source tree`, async () => {
      const tarPath = join(work.dir, `gnu-x-${format}.tar`);
      sh('tar', [`--format=${format}`, '-cf', tarPath, '-C', src, '.']);
      const out = join(work.dir, `ours-extracted-${format}`);
      mkdirSync(out);
      await extractTar([sh('cat', [tarPath])], out);
      expect(comparable(snapshotTree(out))).toEqual(comparable(snapshotTree(src)));
    });
  }

  it('--format=gnu base-256 ids and --format=pax global headers with xattrs', async () => {
    const big = join(work.dir, 'big-ids.tar');
    sh('tar', [
      '--format=gnu',
      '--owner=big:3000000',
      '--group=big:4000000',
      '-cf',
      big,
      '-C',
      src,
      'etc/empty',
    ]);
    const [e1] = await readAll([sh('cat', [big])]);
    expect(e1).toMatchObject({ path: 'etc/empty', uid: 3_000_000, gid: 4_000_000 });

    const pax = join(work.dir, 'global.tar');
    // A keyword given with --pax-option goes into a global ('g') header that applies to every entry.
    sh('tar', [
      '--format=pax',
      '--pax-option=SCHILY.xattr.user.test=hello',
      '-cf',
      pax,
      '-C',
      src,
      'etc/empty',
      'bin/tool',
    ]);
    const entries = await readAll([sh('cat', [pax])]);
    expect(entries.map((e) => [e.path, e.xattrs])).toEqual([
      ['etc/empty', { 'user.test': 'hello' }],
      ['bin/tool', { 'user.test': 'hello' }],
    ]);
  });

  it('GNU sparse archives are refused, not misread', async () => {
    const sparseDir = join(work.dir, 'sparse');
    mkdirSync(sparseDir);
    sh('truncate', ['-s', '10M', join(sparseDir, 'holes')]);
    for (const format of ['pax', 'gnu']) {
      const tarPath = join(work.dir, `sparse-${format}.tar`);
      sh('tar', [`--format=${format}`, '-S', '-cf', tarPath, '-C', sparseDir, 'holes']);
      await expect(readAll([sh('cat', [tarPath])])).rejects.toThrow(/sparse|unsupported entry type 'S'/);
    }
  });

  it('our own tarDirectory + extractTar round trip rebuilds the tree', async () => {
    const out = join(work.dir, 'ours-roundtrip');
    mkdirSync(out);
    await extractTar(tarDirectory(src), out);
    expect(comparable(snapshotTree(out))).toEqual(comparable(snapshotTree(src)));
  });
});
