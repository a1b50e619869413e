import { createReadStream, linkSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readTar, tarDirectory } from '../../shared/src/tar/index.js';
import { collect, readAll, tempDir } from './util.js';

let work: { dir: string; cleanup: () => void };

beforeEach(() => {
  work = tempDir('strata-dir-');
});

afterEach(() => work.cleanup());

function makeTree(root: string, order: 'forward' | 'reverse', time: number): void {
  const files = ['b/2', 'a/1', 'a/sub/3', 'c', 'a-b', 'a.b'];
  mkdirSync(root);
  for (const f of order === 'forward' ? files : [...files].reverse()) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), `content of ${f}`);
    utimesSync(join(root, f), time, time);
  }
}

describe('tarDirectory', () => {
  it('walks in sorted order (parents first) and is byte-identical in deterministic mode', async () => {
    makeTree(join(work.dir, 't1'), 'forward', 1000);
    makeTree(join(work.dir, 't2'), 'reverse', 2000);
    const a = await collect(tarDirectory(join(work.dir, 't1'), { deterministic: true, mtime: 7 }));
    const b = await collect(tarDirectory(join(work.dir, 't2'), { deterministic: true, mtime: 7 }));
    expect(a.equals(b)).toBe(true);
    const entries = await readAll([a]);
    expect(entries.map((e) => e.path)).toEqual([
      'a/',
      'a/1',
      'a/sub/',
      'a/sub/3',
      'a-b',
      'a.b',
      'b/',
      'b/2',
      'c',
    ]);
    expect(entries.every((e) => e.mtime === 7)).toBe(true);
    const plain = await readAll(tarDirectory(join(work.dir, 't1')));
    expect(plain.find((e) => e.path === 'c')?.mtime).toBe(1000);
  });

  it('writes hardlinks across directories once, then as links; honours filter and owner overrides', async () => {
    const root = join(work.dir, 'h');
    mkdirSync(join(root, 'x'), { recursive: true });
    mkdirSync(join(root, 'y'));
    writeFileSync(join(root, 'x/data'), 'shared');
    linkSync(join(root, 'x/data'), join(root, 'y/alias'));
    writeFileSync(join(root, 'y/skip.tmp'), 'no');
    const entries = await readAll(tarDirectory(root, { uid: 5, gid: 6, filter: (p) => !p.endsWith('.tmp') }));
    expect(entries.map((e) => [e.path, e.type, e.linkpath, e.content ?? null, e.uid, e.gid])).toEqual([
      ['x/', 'dir', '', null, 5, 6],
      ['x/data', 'file', '', 'shared', 5, 6],
      ['y/', 'dir', '', null, 5, 6],
      ['y/alias', 'hardlink', 'x/data', null, 5, 6],
    ]);
  });

  it('skips sockets and streams big files in bounded chunks', async () => {
    const root = join(work.dir, 's');
    mkdirSync(root);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(root, 'sock'), resolve));
    try {
      const big = Buffer.alloc(3 * 1024 * 1024 + 5, 1);
      writeFileSync(join(root, 'big'), big);
      let maxChunk = 0;
      let total = 0;
      for await (const c of tarDirectory(root, { readSize: 256 * 1024 })) {
        maxChunk = Math.max(maxChunk, c.length);
        total += c.length;
      }
      expect(maxChunk).toBeLessThanOrEqual(256 * 1024);
      const tarPath = join(work.dir, 's.tar');
      writeFileSync(tarPath, await collect(tarDirectory(root)));
      const names: string[] = [];
      for await (const e of readTar(createReadStream(tarPath, { highWaterMark: 64 * 1024 }))) {
        names.push(e.path);
        expect((await e.buffer()).equals(big)).toBe(true);
      }
      expect(names).toEqual(['big']);
      expect(total).toBe(512 + big.length + 507 + 1024);
    } finally {
      server.close();
    }
  });
});
