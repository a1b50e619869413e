import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractTar, TarError, TarWriter, type TarEntry, type TarInput } from '../../shared/src/tar/index.js';
import { collect, isRoot, snapshotTree, tempDir, type TreeNode } from './util.js';

let work: { dir: string; cleanup: () => void };
let dest: string;
let outside: string;
let outsideBefore: TreeNode[];

beforeEach(() => {
  work = tempDir('strata-extract-');
  dest = join(work.dir, 'dest');
  outside = join(work.dir, 'outside');
  mkdirSync(dest);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'original');
  outsideBefore = snapshotTree(outside);
});

afterEach(() => work.cleanup());

async function archive(inputs: TarInput[]): Promise<Buffer> {
  return collect(new TarWriter().write(inputs));
}

const file = (path: string, body = 'evil'): TarInput => ({ header: { path, type: 'file', mtime: 1 }, body });
const symlink = (path: string, linkpath: string): TarInput => ({
  header: { path, type: 'symlink', linkpath },
});
const hardlink = (path: string, linkpath: string): TarInput => ({
  header: { path, type: 'hardlink', linkpath },
});
const dir = (path: string): TarInput => ({ header: { path, type: 'dir', mtime: 1 } });

/** Extraction must fail with a TarError naming `entry`, and nothing outside dest may change. */
async function expectRefused(inputs: TarInput[], entry: string, message: RegExp): Promise<void> {
  let err: unknown;
  try {
    await extractTar([await archive(inputs)], dest, { whiteout: () => undefined, opaque: () => undefined });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(TarError);
  expect((err as TarError).entry).toBe(entry);
  expect((err as TarError).message).toMatch(message);
  expect((err as TarError).message).toContain(JSON.stringify(entry));
  expectOutsideUntouched();
}

function expectOutsideUntouched(): void {
  expect(snapshotTree(outside)).toEqual(outsideBefore);
  expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('original');
  expect(readdirSync(work.dir).sort()).toEqual(['dest', 'outside']);
}

describe('extractTar refuses escapes', () => {
  it('a ../ path', async () => {
    await expectRefused([file('../evil')], '../evil', /'\.\.' component/);
  });

  it('a .. in the middle of a path', async () => {
    await expectRefused([file('a/../../evil')], 'a/../../evil', /'\.\.' component/);
    await expectRefused([file('./a/b/../../../outside/secret')], './a/b/../../../outside/secret', /'\.\.'/);
  });

  it('an absolute path that escapes after stripping the leading /', async () => {
    await expectRefused([file('/../outside/secret')], '/../outside/secret', /'\.\.'/);
  });

  it('strips a leading / or ./ like Docker: absolute names land inside destDir', async () => {
    const abs = join(outside, 'abs-evil'); // an absolute path that points outside dest
    await extractTar([await archive([file(abs, 'inside'), file('./dot/x', 'dot')])], dest);
    expect(existsSync(abs)).toBe(false);
    expect(readFileSync(join(dest, abs), 'utf8')).toBe('inside');
    expect(readFileSync(join(dest, 'dot/x'), 'utf8')).toBe('dot');
    expectOutsideUntouched();
  });

  it('a file written through a symlink created by the archive (absolute target)', async () => {
    await expectRefused([symlink('l', outside), file('l/evil')], 'l/evil', /symlink "l"/);
    expect(lstatSync(join(dest, 'l')).isSymbolicLink()).toBe(true);
  });

  it('a file written through a symlink created by the archive (relative target)', async () => {
    await expectRefused([symlink('l', '../outside'), file('l/secret')], 'l/secret', /symlink "l"/);
  });

  it('a symlink deeper in the path, and a directory through it', async () => {
    await expectRefused(
      [dir('a/'), symlink('a/b', '../../outside'), file('a/b/c/evil')],
      'a/b/c/evil',
      /symlink "a\/b"/,
    );
    await expectRefused([symlink('x', outside), dir('x/sub/')], 'x/sub/', /symlink "x"/);
  });

  it('a directory replaced by a symlink, then written through', async () => {
    await expectRefused(
      [dir('d/'), file('d/ok', 'ok'), symlink('d', outside), file('d/evil')],
      'd/evil',
      /symlink "d"/,
    );
  });

  it('a hardlink to a path outside destDir', async () => {
    await expectRefused([hardlink('h', '../outside/secret')], 'h', /'\.\.'/);
    expect(existsSync(join(dest, 'h'))).toBe(false);
  });

  it('a hardlink through a symlink created by the archive', async () => {
    await expectRefused([symlink('l', outside), hardlink('h', 'l/secret')], 'h', /symlink "l"/);
    expect(existsSync(join(dest, 'h'))).toBe(false);
  });

  it('an absolute hardlink target is resolved inside destDir, not on the host', async () => {
    await expectRefused([hardlink('h', join(outside, 'secret'))], 'h', /does not exist/);
  });

  it('a device node without a mknod hook', async () => {
    await expectRefused(
      [{ header: { path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 } }],
      'dev/sda',
      /no mknod hook/,
    );
    await expectRefused(
      [{ header: { path: 'dev/mem', type: 'char', devmajor: 1, devminor: 1 } }],
      'dev/mem',
      /no mknod hook/,
    );
  });

  it('whiteouts with escapes or through symlinks, without calling the hook', async () => {
    const calls: string[] = [];
    const hooks = { whiteout: (p: string) => void calls.push(p), opaque: (p: string) => void calls.push(p) };
    for (const [inputs, entry] of [
      [[file('../.wh.secret', '')], '../.wh.secret'],
      [[symlink('l', outside), file('l/.wh.secret', '')], 'l/.wh.secret'],
      [[symlink('m', outside), file('m/.wh..wh..opq', '')], 'm/.wh..wh..opq'],
      [[file('a/.wh...', '')], 'a/.wh...'],
    ] as const) {
      await expect(extractTar([await archive([...inputs])], dest, hooks)).rejects.toMatchObject({ entry });
    }
    expect(calls).toEqual([]);
    expectOutsideUntouched();
  });
});

describe('extractTar never writes through an existing symlink', () => {
  it('a file replacing a symlink replaces the link itself', async () => {
    await extractTar([await archive([symlink('l', join(outside, 'secret')), file('l', 'new')])], dest);
    expect(lstatSync(join(dest, 'l')).isFile()).toBe(true);
    expect(readFileSync(join(dest, 'l'), 'utf8')).toBe('new');
    expectOutsideUntouched();
  });

  it('a hardlink to an archive symlink, then a file over it', async () => {
    await extractTar(
      [await archive([symlink('s', join(outside, 'secret')), hardlink('h', 's'), file('h', 'new')])],
      dest,
    );
    expect(readlinkSync(join(dest, 's'))).toBe(join(outside, 'secret'));
    expect(readFileSync(join(dest, 'h'), 'utf8')).toBe('new');
    expectOutsideUntouched();
  });

  it('a directory entry over a symlink replaces the symlink', async () => {
    await extractTar([await archive([symlink('d', outside), dir('d/'), file('d/f', 'inside')])], dest);
    expect(lstatSync(join(dest, 'd')).isDirectory()).toBe(true);
    expect(readFileSync(join(dest, 'd/f'), 'utf8')).toBe('inside');
    expectOutsideUntouched();
  });
});

describe('extractTar preserves metadata', () => {
  it('modes, mtimes, symlinks, hardlinks and (as root) owners', async () => {
    const inputs: TarInput[] = [
      { header: { path: 'ro/', type: 'dir', mode: 0o555, mtime: 1_000_000 } },
      {
        header: { path: 'ro/suid', type: 'file', mode: 0o4755, mtime: 2_000_000, uid: 1000, gid: 1001 },
        body: 'x',
      },
      { header: { path: 'ro/link', type: 'symlink', linkpath: 'suid', mtime: 3_000_000 } },
      { header: { path: 'ro/hard', type: 'hardlink', linkpath: 'ro/suid' } },
      { header: { path: 'sticky/', type: 'dir', mode: 0o1777, mtime: 4_000_000 } },
      { header: { path: 'fifo', type: 'fifo', mode: 0o640, mtime: 5_000_000 } },
    ];
    const result = await extractTar([await archive(inputs)], dest);
    expect(result).toEqual({ entries: 6, bytes: 1 });
    const ro = lstatSync(join(dest, 'ro'));
    expect([ro.mode & 0o7777, ro.mtimeMs / 1000]).toEqual([0o555, 1_000_000]);
    const suid = lstatSync(join(dest, 'ro/suid'));
    expect([suid.mode & 0o7777, suid.mtimeMs / 1000, suid.nlink]).toEqual([0o4755, 2_000_000, 2]);
    if (isRoot) expect([suid.uid, suid.gid]).toEqual([1000, 1001]);
    expect(lstatSync(join(dest, 'ro/hard')).ino).toBe(suid.ino);
    expect(readlinkSync(join(dest, 'ro/link'))).toBe('suid');
    expect(lstatSync(join(dest, 'ro/link')).mtimeMs / 1000).toBe(3_000_000);
    expect(lstatSync(join(dest, 'sticky')).mode & 0o7777).toBe(0o1777);
    const fifo = lstatSync(join(dest, 'fifo'));
    expect([fifo.isFIFO(), fifo.mode & 0o7777, fifo.mtimeMs / 1000]).toEqual([true, 0o640, 5_000_000]);
  });

  it('devices go to the mknod hook; chown can be replaced or disabled', async () => {
    const made: string[] = [];
    const owners: [string, number, number][] = [];
    const inputs: TarInput[] = [
      { header: { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 } },
      file('f', 'x'),
    ];
    await extractTar([await archive(inputs)], dest, {
      mknod: (p: string, e: TarEntry) => {
        made.push(`${p} ${e.type} ${e.devmajor}:${e.devminor}`);
        writeFileSync(p, ''); // stand-in for a device node
      },
      chown: (p, uid, gid) => void owners.push([p.slice(dest.length), uid, gid]),
    });
    expect(made).toEqual([`${join(dest, 'dev/null')} char 1:3`]);
    expect(owners).toEqual([
      ['/dev/null', 0, 0],
      ['/f', 0, 0],
    ]);
    await extractTar([await archive([file('g', 'y')])], dest, { chown: false });
    expect(readFileSync(join(dest, 'g'), 'utf8')).toBe('y');
  });

  it('implicit parent directories get mode 0755 whatever the umask', async () => {
    const old = process.umask(0o077);
    try {
      await extractTar([await archive([file('implicit/parent/f', 'x')])], dest);
    } finally {
      process.umask(old);
    }
    expect(lstatSync(join(dest, 'implicit')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(dest, 'implicit/parent')).mode & 0o7777).toBe(0o755);
  });

  it('existing files are replaced, existing directories kept and merged', async () => {
    mkdirSync(join(dest, 'keep'));
    writeFileSync(join(dest, 'keep/old'), 'old');
    writeFileSync(join(dest, 'becomes-dir'), 'file');
    await extractTar(
      [
        await archive([
          dir('keep/'),
          file('keep/new', 'new'),
          dir('becomes-dir/'),
          file('becomes-dir/x', 'x'),
        ]),
      ],
      dest,
    );
    expect(readdirSync(join(dest, 'keep')).sort()).toEqual(['new', 'old']);
    expect(readFileSync(join(dest, 'keep/old'), 'utf8')).toBe('old');
    expect(readFileSync(join(dest, 'becomes-dir/x'), 'utf8')).toBe('x');
  });
});
