// overlayfs semantics in the model (Documentation/filesystems/overlayfs.rst).
import { describe, expect, it } from 'vitest';
import { MemFs, OPAQUE_XATTR, OverlayFs, renderTree, snapshotTree } from '../../shared/src/model/index.js';
import { errnoOf } from './helpers.js';

function make() {
  const disk = new MemFs('tmpfs');
  for (const d of ['/l1', '/l2', '/u', '/w']) disk.mkdir(d);
  disk.mkdir('/l1/d');
  disk.writeFile('/l1/d/f1', 'l1');
  disk.writeFile('/l1/same', 'from l1');
  disk.mkdir('/l2/d');
  disk.writeFile('/l2/d/f2', 'l2');
  disk.writeFile('/l2/same', 'from l2');
  disk.writeFile('/l2/only2', 'two');
  disk.mkdir('/l2/dir2');
  disk.writeFile('/l2/dir2/x', 'x');
  const ov = new OverlayFs({
    lower: [
      { fs: disk, path: '/l1' },
      { fs: disk, path: '/l2' },
    ],
    upper: { fs: disk, path: '/u' },
    work: { fs: disk, path: '/w' },
  });
  const upper = () => renderTree(snapshotTree(disk, '/u', { xattrs: [OPAQUE_XATTR] }));
  return { disk, ov, upper };
}

describe('overlayfs model', () => {
  it('looks up the topmost layer and merges directories', () => {
    const { ov } = make();
    expect(ov.readdir('/')).toEqual(['d', 'dir2', 'only2', 'same']);
    expect(ov.readdir('/d')).toEqual(['f1', 'f2']);
    expect(ov.readFile('/same')).toBe('from l1');
    expect(errnoOf(() => ov.readFile('/nope'))).toBe('ENOENT');
  });

  it('copies up on write and on metadata change, with the parents', () => {
    const { ov, upper } = make();
    ov.writeFile('/d/f2', 'changed');
    ov.chmod('/d/f1', 0o600);
    expect(upper()).toBe('d 755 /d\nf 600 /d/f1 = "l1"\nf 644 /d/f2 = "changed"\n');
    expect(ov.readdir('/d')).toEqual(['f1', 'f2']);
    expect(ov.lstat('/d/f1').mode).toBe(0o600);
  });

  it('whiteouts on delete; none when the name was only in the upper layer', () => {
    const { ov, upper } = make();
    ov.unlink('/same');
    ov.writeFile('/fresh', 'x');
    ov.unlink('/fresh');
    expect(ov.readdir('/')).toEqual(['d', 'dir2', 'only2']);
    expect(upper()).toBe('c 000 /same 0:0\n');
    ov.writeFile('/same', 'again');
    expect(upper()).toBe('f 644 /same = "again"\n');
  });

  it('rmdir then mkdir gives an opaque directory that hides the lower contents', () => {
    const { ov, upper } = make();
    expect(errnoOf(() => ov.rmdir('/dir2'))).toBe('ENOTEMPTY');
    ov.unlink('/dir2/x');
    ov.rmdir('/dir2');
    expect(upper()).toBe('c 000 /dir2 0:0\n');
    ov.mkdir('/dir2');
    expect(upper()).toBe('d 755 /dir2 trusted.overlay.opaque=y\n');
    expect(ov.readdir('/dir2')).toEqual([]);
    // The opaque xattr is overlay-private: not visible through the merged view.
    expect(ov.getxattr('/dir2', OPAQUE_XATTR)).toBeNull();
    // A directory new to every layer is not opaque.
    ov.mkdir('/d/new');
    expect(upper()).toContain('d 755 /d/new\n');
  });

  it('rename: files copy up and leave a whiteout; lower directories give EXDEV', () => {
    const { ov, upper } = make();
    ov.rename('/only2', '/moved');
    expect(ov.readdir('/')).toEqual(['d', 'dir2', 'moved', 'same']);
    expect(upper()).toBe('f 644 /moved = "two"\nc 000 /only2 0:0\n');
    expect(errnoOf(() => ov.rename('/d', '/d2'))).toBe('EXDEV');
    ov.mkdir('/mine');
    ov.writeFile('/mine/f', 'm');
    ov.rename('/mine', '/mine2');
    expect(ov.readdir('/mine2')).toEqual(['f']);
  });

  it('without an upper layer it is read-only; layers are checked at mount time', () => {
    const { disk } = make();
    const ro = new OverlayFs({ lower: [{ fs: disk, path: '/l1' }], upper: null, work: null });
    expect(errnoOf(() => ro.writeFile('/x', 'y'))).toBe('EROFS');
    expect(
      errnoOf(
        () =>
          new OverlayFs({
            lower: [{ fs: disk, path: '/l1' }],
            upper: { fs: disk, path: '/u' },
            work: { fs: disk, path: '/u/w' },
          }),
      ),
    ).toBe('EINVAL');
    expect(errnoOf(() => new OverlayFs({ lower: [], upper: null, work: null }))).toBe('EINVAL');
  });

  it('a whiteout in a lower layer hides the layers below it', () => {
    const { disk } = make();
    disk.mknod('/l1/only2', 0, 0, { mode: 0 });
    const ov = new OverlayFs({
      lower: [
        { fs: disk, path: '/l1' },
        { fs: disk, path: '/l2' },
      ],
      upper: null,
      work: null,
    });
    expect(ov.readdir('/')).toEqual(['d', 'dir2', 'same']);
  });
});
