import { describe, expect, it } from 'vitest';
import { readTar, TarError, TarWriter, type TarInput } from '../../shared/src/tar/index.js';
import { chunked, collect, readAll } from './util.js';

const longDir = 'd'.repeat(120);
const longName = `${longDir}/${'n'.repeat(150)}`; // > 255 bytes: needs PAX path
const splitName = `${'p'.repeat(130)}/${'f'.repeat(90)}`; // fits ustar prefix + name
const longTarget = `../${'t'.repeat(200)}`;

function inputs(): TarInput[] {
  return [
    { header: { path: 'dir/', type: 'dir', mode: 0o755, mtime: 1_700_000_000 } },
    {
      header: { path: 'dir/file.txt', type: 'file', mode: 0o644, mtime: 1_700_000_001, uid: 1000, gid: 100 },
      body: 'hello\n',
    },
    { header: { path: 'dir/empty', type: 'file', mode: 0o600, mtime: 1 }, body: '' },
    { header: { path: 'dir/block512', type: 'file', mtime: 2 }, body: Buffer.alloc(512, 0x61) },
    { header: { path: 'dir/exec', type: 'file', mode: 0o4755, mtime: 3 }, body: Buffer.from([0, 1, 2, 255]) },
    { header: { path: 'dir/link', type: 'symlink', linkpath: 'file.txt', mtime: 4 } },
    { header: { path: 'dir/hard', type: 'hardlink', linkpath: 'dir/file.txt', mtime: 5 } },
    { header: { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, mtime: 6 } },
    { header: { path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660, mtime: 7 } },
    { header: { path: 'fifo', type: 'fifo', mode: 0o644, mtime: 8 } },
    { header: { path: longName, type: 'file', mtime: 9 }, body: 'long' },
    { header: { path: splitName, type: 'file', mtime: 10 }, body: 'split' },
    { header: { path: 'longlink', type: 'symlink', linkpath: longTarget, mtime: 11 } },
    { header: { path: 'ünïcødé/文件', type: 'file', mtime: 12, uname: 'user', gname: 'grp' }, body: 'u' },
    { header: { path: 'bigids', type: 'file', uid: 3_000_000, gid: 4_000_000, mtime: 13 }, body: 'ids' },
    { header: { path: 'frac', type: 'file', mtime: 1_700_000_000.5 }, body: 'f' },
    {
      header: {
        path: 'xattr',
        type: 'file',
        mtime: 14,
        xattrs: { 'user.comment': 'a value', 'security.capability': Buffer.from([1, 0, 0, 2]) },
      },
      body: 'x',
    },
  ];
}

describe('tar writer + reader round trip', () => {
  it('reads back every entry type and header field', async () => {
    const tar = await collect(new TarWriter().write(inputs()));
    expect(tar.length % 512).toBe(0);
    const entries = await readAll([tar]);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(entries.map((e) => e.path)).toEqual(inputs().map((i) => i.header.path));

    expect(byPath.get('dir/')).toMatchObject({ type: 'dir', mode: 0o755, mtime: 1_700_000_000, size: 0 });
    expect(byPath.get('dir/file.txt')).toMatchObject({
      type: 'file',
      content: 'hello\n',
      size: 6,
      uid: 1000,
      gid: 100,
      mode: 0o644,
    });
    expect(byPath.get('dir/empty')).toMatchObject({ type: 'file', content: '', mode: 0o600 });
    expect(byPath.get('dir/block512')?.content).toBe('a'.repeat(512));
    expect(byPath.get('dir/exec')).toMatchObject({ mode: 0o4755, content: '\x00\x01\x02\xff' });
    expect(byPath.get('dir/link')).toMatchObject({ type: 'symlink', linkpath: 'file.txt' });
    expect(byPath.get('dir/hard')).toMatchObject({ type: 'hardlink', linkpath: 'dir/file.txt', size: 0 });
    expect(byPath.get('dev/null')).toMatchObject({ type: 'char', devmajor: 1, devminor: 3, mode: 0o666 });
    expect(byPath.get('dev/sda')).toMatchObject({ type: 'block', devmajor: 8, devminor: 0 });
    expect(byPath.get('fifo')).toMatchObject({ type: 'fifo' });
    expect(byPath.get(longName)).toMatchObject({ content: 'long' });
    expect(byPath.get(splitName)).toMatchObject({ content: 'split' });
    expect(byPath.get('longlink')).toMatchObject({ linkpath: longTarget });
    expect(byPath.get('ünïcødé/文件')).toMatchObject({ content: 'u', uname: 'user', gname: 'grp' });
    expect(byPath.get('bigids')).toMatchObject({ uid: 3_000_000, gid: 4_000_000 });
    expect(byPath.get('frac')?.mtime).toBe(1_700_000_000.5);
    expect(byPath.get('xattr')?.xattrs).toEqual({
      'user.comment': 'a value',
      'security.capability': Buffer.from([1, 0, 0, 2]).toString('utf8'),
    });
  });

  it('gives the same entries whatever the source chunking', async () => {
    const tar = await collect(new TarWriter().write(inputs()));
    const whole = await readAll([tar]);
    for (const size of [1, 7, 511, 512, 513, 4096, 100_000]) {
      expect(await readAll(chunked(tar, size))).toEqual(whole);
    }
  });

  it('skips bodies that are not read', async () => {
    const tar = await collect(new TarWriter().write(inputs()));
    const paths: string[] = [];
    for await (const e of readTar(chunked(tar, 333))) paths.push(e.path);
    expect(paths).toEqual(inputs().map((i) => i.header.path));
  });

  it('streams a large body in bounded chunks and enforces the buffer limit', async () => {
    const size = 48 * 1024 * 1024 + 123;
    const block = Buffer.alloc(1024 * 1024, 0x5a);
    async function* body(): AsyncGenerator<Uint8Array> {
      let left = size;
      while (left > 0) {
        const n = Math.min(left, block.length);
        yield block.subarray(0, n);
        left -= n;
      }
    }
    const writer = new TarWriter();
    const archive = writer.write([
      { header: { path: 'big', type: 'file', size, mtime: 1 }, body },
      { header: { path: 'after', type: 'file', mtime: 1 }, body: 'tail' },
    ]);
    let seen = 0;
    let maxChunk = 0;
    let tail = '';
    for await (const e of readTar(archive)) {
      if (e.path === 'big') {
        await expect(e.buffer(1024)).rejects.toThrow(/exceeds the 1024-byte buffer limit/);
        for await (const c of e.body()) {
          seen += c.length;
          maxChunk = Math.max(maxChunk, c.length);
          if (c[0] !== 0x5a) throw new Error('bad byte');
        }
      } else {
        tail = (await e.buffer()).toString();
      }
    }
    expect(seen).toBe(size);
    expect(maxChunk).toBeLessThanOrEqual(1024 * 1024);
    expect(tail).toBe('tail');
  });

  it('checks declared sizes of streamed bodies', async () => {
    const short = new TarWriter().write([
      { header: { path: 'f', type: 'file', size: 10 }, body: [Buffer.from('abc')] },
    ]);
    await expect(collect(short)).rejects.toThrow(TarError);
    const long = new TarWriter().write([
      { header: { path: 'f', type: 'file', size: 1 }, body: [Buffer.from('abc')] },
    ]);
    await expect(collect(long)).rejects.toThrow(/longer than the declared size/);
    const mismatch = new TarWriter().write([{ header: { path: 'f', type: 'file', size: 2 }, body: 'abc' }]);
    await expect(collect(mismatch)).rejects.toThrow(/differs from the body's 3 bytes/);
  });

  it('deterministic mode: sorted, fixed mtime, owners 0 unless given, identical bytes', async () => {
    const writer = new TarWriter({ deterministic: true, mtime: 42 });
    const a = await collect(writer.write(inputs()));
    const b = await collect(writer.write([...inputs()].reverse()));
    expect(a.equals(b)).toBe(true);
    const entries = await readAll([a]);
    expect(entries.every((e) => e.mtime === 42)).toBe(true);
    const paths = entries.map((e) => e.path);
    expect(paths.indexOf('dir/')).toBeLessThan(paths.indexOf('dir/file.txt'));
    expect(paths[0]).toBe('bigids');
    expect(entries.find((e) => e.path === 'fifo')).toMatchObject({ uid: 0, gid: 0, uname: '', gname: '' });
    expect(entries.find((e) => e.path === 'dir/file.txt')).toMatchObject({ uid: 1000, gid: 100 });
  });

  it('accepts an archive without the end-of-archive blocks', async () => {
    const tar = await collect(new TarWriter().write(inputs()));
    const entries = await readAll([tar.subarray(0, tar.length - 1024)]);
    expect(entries.length).toBe(inputs().length);
  });
});
