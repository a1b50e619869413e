// overlayfs model (Documentation/filesystems/overlayfs.rst): a merged view of lower layers (leftmost on
// top) and an optional upper layer. Lookup takes the topmost entry; directories merge unless a layer's
// directory is opaque (trusted.overlay.opaque=y); a whiteout (char device 0/0) hides the name below it.
// Writes and metadata changes copy the entry (and its parents) up; deletes leave whiteouts when a lower
// layer still has the name; mkdir over a whiteout makes an opaque directory; renaming a directory that
// is not purely in the upper layer fails with EXDEV (redirect_dir=off, the default).

import { fail, isModelError } from './errors.js';
import type { CreateOptions, FileSystem, Stat } from './fs.js';
import { isWhiteout, removeTree, tryLstat } from './fs.js';
import { childPath, components, dirname, joinUnder } from './path.js';

/** A directory inside some filesystem, used as an overlay layer. */
export interface Layer {
  fs: FileSystem;
  path: string;
}

export interface OverlayLayers {
  /** Lower layers, topmost first (lowerdir=top:...:bottom). */
  lower: Layer[];
  /** Upper and work directories; null for a read-only overlay of lowers only. */
  upper: Layer | null;
  work: Layer | null;
}

export const OPAQUE_XATTR = 'trusted.overlay.opaque';
const PRIVATE_XATTR_PREFIX = 'trusted.overlay.';

function layerPath(layer: Layer, path: string): string {
  return joinUnder(layer.path, path);
}

/** Where a merged path lives: the layers (indices, 0 = upper when present) holding it, topmost first. */
interface Resolved {
  chain: number[];
  stat: Stat;
}

export class OverlayFs implements FileSystem {
  readonly fsType = 'overlay';
  readonly layers: OverlayLayers;
  /** Upper first (when present), then the lowers in order. */
  private readonly stack: Layer[];
  private readonly hasUpper: boolean;

  constructor(layers: OverlayLayers) {
    if (layers.lower.length === 0) fail('EINVAL', 'overlay needs at least one lowerdir');
    if ((layers.upper === null) !== (layers.work === null)) fail('EINVAL', 'upperdir needs workdir');
    if (layers.upper && layers.work) {
      if (layers.upper.fs !== layers.work.fs) fail('EINVAL', 'workdir and upperdir must be on the same fs');
      const [u, w] = [layers.upper.path, layers.work.path];
      if (u === w || w.startsWith(u === '/' ? '/' : u + '/') || u.startsWith(w === '/' ? '/' : w + '/')) {
        fail('EINVAL', 'workdir and upperdir must be separate subtrees');
      }
    }
    for (const l of [...layers.lower, ...(layers.upper ? [layers.upper] : [])]) {
      if (l.fs.lstat(l.path).kind !== 'dir') fail('ENOTDIR', `${l.path}: not a directory`);
    }
    this.layers = layers;
    this.hasUpper = layers.upper !== null;
    this.stack = [...(layers.upper ? [layers.upper] : []), ...layers.lower];
    if (layers.work) {
      // The kernel keeps a "work" directory (mode 000) inside workdir for atomic copy-up and whiteouts.
      const work = layerPath(layers.work, '/work');
      if (tryLstat(layers.work.fs, work) === null) layers.work.fs.mkdir(work, { mode: 0 });
    }
    this.layerFs = [...new Set(this.stack.map((l) => l.fs))];
  }

  /** The distinct filesystems of the layers (their generations stamp the lookup cache). */
  private readonly layerFs: FileSystem[];
  /** Lookups since the layers last changed (a dentry cache): each operation resolves a path repeatedly. */
  private readonly cache = new Map<string, Resolved | null>();
  private cacheStamp = -1;

  /** Sum of the layers' generations (each only grows, so the sum changes with any of them), or -1. */
  private stamp(): number {
    let sum = 0;
    for (const fs of this.layerFs) {
      if (!fs.generation) return -1;
      sum += fs.generation();
    }
    return sum;
  }

  private layer(i: number): Layer {
    const l = this.stack[i];
    if (!l) throw new Error(`overlay: no layer ${i}`);
    return l;
  }

  private lstatIn(i: number, path: string): Stat | null {
    const l = this.layer(i);
    return tryLstat(l.fs, layerPath(l, path));
  }

  private isOpaque(i: number, path: string): boolean {
    const l = this.layer(i);
    return l.fs.getxattr(layerPath(l, path), OPAQUE_XATTR) === 'y';
  }

  /** Look a merged path up; null when it does not exist. */
  private resolve(path: string): Resolved | null {
    const stamp = this.stamp();
    if (stamp < 0) return this.lookup(path);
    if (stamp !== this.cacheStamp) {
      this.cache.clear();
      this.cacheStamp = stamp;
    }
    const hit = this.cache.get(path);
    if (hit !== undefined) return hit;
    const r = this.lookup(path);
    if (this.cache.size >= 4096) this.cache.clear();
    this.cache.set(path, r);
    return r;
  }

  private lookup(path: string): Resolved | null {
    let chain: number[] = [];
    for (let i = 0; i < this.stack.length; i++) {
      chain.push(i);
      if (this.isOpaque(i, '/')) break;
    }
    let stat = this.lstatIn(0, '/') as Stat;
    let cur = '/';
    for (const name of components(path)) {
      if (stat.kind !== 'dir') fail('ENOTDIR', `${cur}: not a directory`);
      cur = childPath(cur, name);
      const next: number[] = [];
      let top: Stat | null = null;
      for (const i of chain) {
        const st = this.lstatIn(i, cur);
        if (!st) continue;
        if (isWhiteout(st)) break;
        if (st.kind !== 'dir') {
          if (next.length === 0) {
            next.push(i);
            top = st;
          }
          break;
        }
        next.push(i);
        top ??= st;
        if (this.isOpaque(i, cur)) break;
      }
      if (!top) return null;
      chain = next;
      stat = top;
    }
    return { chain, stat };
  }

  private mustResolve(path: string): Resolved {
    const r = this.resolve(path);
    if (!r) fail('ENOENT', `${path}: no such file or directory`);
    return r;
  }

  /** Whether a lower layer still shows `path` (so removing it from the merged view needs a whiteout). */
  private lowerPositive(path: string): boolean {
    const parent = this.resolve(dirname(path));
    if (!parent) return false;
    for (const i of parent.chain) {
      if (this.hasUpper && i === 0) continue;
      const st = this.lstatIn(i, path);
      if (st) return !isWhiteout(st);
    }
    return false;
  }

  private upper(): Layer {
    if (!this.layers.upper) fail('EROFS', 'overlay has no upperdir');
    return this.layers.upper;
  }

  private upperPath(path: string): string {
    return layerPath(this.upper(), path);
  }

  /** Make sure `path` exists in the upper layer, copying it (and its parents) up from a lower layer. */
  copyUp(path: string): void {
    const up = this.upper();
    const r = this.mustResolve(path);
    if (r.chain[0] === 0) return;
    if (dirname(path) !== path) this.copyUp(dirname(path));
    const src = this.layer(r.chain[0] as number);
    const from = layerPath(src, path);
    const to = this.upperPath(path);
    const st = r.stat;
    const attrs: CreateOptions = { mode: st.mode, uid: st.uid, gid: st.gid };
    if (st.kind === 'dir') up.fs.mkdir(to, attrs);
    else if (st.kind === 'file') up.fs.writeFile(to, src.fs.readFile(from), attrs);
    else if (st.kind === 'symlink') up.fs.symlink(src.fs.readlink(from), to, attrs);
    else up.fs.mknod(to, st.rdevMajor, st.rdevMinor, attrs);
    for (const name of src.fs.listxattr(from)) {
      if (name.startsWith(PRIVATE_XATTR_PREFIX)) continue;
      up.fs.setxattr(to, name, src.fs.getxattr(from, name) ?? '');
    }
  }

  /** Whether the merged entry lives only in the upper layer (what overlayfs calls "pure upper"). */
  isPureUpper(path: string): boolean {
    const r = this.mustResolve(path);
    if (!this.hasUpper || r.chain[0] !== 0) return false;
    return r.stat.kind === 'dir' ? r.chain.length === 1 : !this.lowerPositive(path);
  }

  /** Prepare the upper layer for a new entry at `path`: parent copied up, whiteout removed. */
  private prepareCreate(path: string): { overWhiteout: boolean } {
    if (this.resolve(path)) fail('EEXIST', `${path}: file exists`);
    const parent = this.mustResolve(dirname(path));
    if (parent.stat.kind !== 'dir') fail('ENOTDIR', `${dirname(path)}: not a directory`);
    this.copyUp(dirname(path));
    const up = this.upper();
    const existing = tryLstat(up.fs, this.upperPath(path));
    if (existing && isWhiteout(existing)) {
      up.fs.unlink(this.upperPath(path));
      return { overWhiteout: true };
    }
    return { overWhiteout: this.lowerPositive(path) };
  }

  lstat(path: string): Stat {
    return this.mustResolve(path).stat;
  }

  lstatOrNull(path: string): Stat | null {
    try {
      return this.resolve(path)?.stat ?? null;
    } catch (err) {
      if (isModelError(err, 'ENOTDIR')) return null;
      throw err;
    }
  }

  /**
   * getdents(): a directory that lives in one layer only is read straight from that layer (the
   * kernel's "real" dir: ovl_dir_is_real), so its whiteouts are listed, though lstat of them says
   * ENOENT; a merged directory's listing leaves whiteouts out.
   */
  readdir(path: string): string[] {
    const r = this.mustResolve(path);
    if (r.stat.kind !== 'dir') fail('ENOTDIR', `${path}: not a directory`);
    if (r.chain.length === 1) {
      const l = this.layer(r.chain[0] as number);
      return l.fs.readdir(layerPath(l, path));
    }
    return this.visibleNames(path, r);
  }

  /** The names the merged view shows in a directory (whiteouts left out): what rmdir finds empty. */
  private visibleNames(path: string, r: Resolved = this.mustResolve(path)): string[] {
    const seen = new Map<string, boolean>();
    for (const i of r.chain) {
      const l = this.layer(i);
      const dir = layerPath(l, path);
      for (const name of l.fs.readdir(dir)) {
        if (seen.has(name)) continue;
        seen.set(name, !isWhiteout(l.fs.lstat(childPath(dir, name))));
      }
    }
    return [...seen.entries()]
      .filter(([, visible]) => visible)
      .map(([name]) => name)
      .sort();
  }

  private top(path: string): [Layer, string] {
    const r = this.mustResolve(path);
    const l = this.layer(r.chain[0] as number);
    return [l, layerPath(l, path)];
  }

  readFile(path: string): string {
    const [l, p] = this.top(path);
    return l.fs.readFile(p);
  }

  readlink(path: string): string {
    const [l, p] = this.top(path);
    return l.fs.readlink(p);
  }

  mkdir(path: string, opts?: CreateOptions): void {
    const { overWhiteout } = this.prepareCreate(path);
    const up = this.upper();
    up.fs.mkdir(this.upperPath(path), opts);
    if (overWhiteout) up.fs.setxattr(this.upperPath(path), OPAQUE_XATTR, 'y');
  }

  writeFile(path: string, content: string, opts: CreateOptions & { append?: boolean } = {}): void {
    const r = this.resolve(path);
    if (r) {
      if (r.stat.kind === 'dir') fail('EISDIR', `${path}: is a directory`);
      this.copyUp(path);
    } else {
      this.prepareCreate(path);
    }
    this.upper().fs.writeFile(this.upperPath(path), content, opts);
  }

  mknod(path: string, major: number, minor: number, opts?: CreateOptions): void {
    this.prepareCreate(path);
    this.upper().fs.mknod(this.upperPath(path), major, minor, opts);
  }

  symlink(target: string, path: string, opts?: CreateOptions): void {
    this.prepareCreate(path);
    this.upper().fs.symlink(target, this.upperPath(path), opts);
  }

  /** Remove the merged entry at `path` (already checked), leaving a whiteout if a lower shows it. */
  private removeEntry(path: string): void {
    this.copyUp(dirname(path));
    const up = this.upper();
    const needWhiteout = this.lowerPositive(path);
    const inUpper = tryLstat(up.fs, this.upperPath(path));
    if (inUpper) removeTree(up.fs, this.upperPath(path));
    if (needWhiteout) up.fs.mknod(this.upperPath(path), 0, 0, { mode: 0 });
  }

  unlink(path: string): void {
    const r = this.mustResolve(path);
    if (r.stat.kind === 'dir') fail('EISDIR', `${path}: is a directory`);
    this.upper();
    this.removeEntry(path);
  }

  rmdir(path: string): void {
    const r = this.mustResolve(path);
    if (r.stat.kind !== 'dir') fail('ENOTDIR', `${path}: not a directory`);
    if (this.visibleNames(path, r).length > 0) fail('ENOTEMPTY', `${path}: directory not empty`);
    this.upper();
    this.removeEntry(path);
  }

  rename(from: string, to: string): void {
    const src = this.mustResolve(from);
    this.upper();
    if (from === to) return;
    const isDir = src.stat.kind === 'dir';
    if (isDir && !(src.chain.length === 1 && src.chain[0] === 0)) {
      fail('EXDEV', `${from}: directory is not only in the upper layer (redirect_dir=off)`);
    }
    if (isDir && (to + '/').startsWith(from + '/')) fail('EINVAL', `${to} is inside ${from}`);
    const dst = this.resolve(to);
    if (dst) {
      if (isDir && dst.stat.kind !== 'dir') fail('ENOTDIR', `${to}: not a directory`);
      if (!isDir && dst.stat.kind === 'dir') fail('EISDIR', `${to}: is a directory`);
      // An empty target directory may come from a lower layer: only the source must be movable
      // (ovl_can_move checks the target for RENAME_EXCHANGE only); the moved directory turns opaque.
      if (dst.stat.kind === 'dir' && this.visibleNames(to, dst).length > 0) {
        fail('ENOTEMPTY', `${to}: directory not empty`);
      }
    } else {
      const parent = this.mustResolve(dirname(to));
      if (parent.stat.kind !== 'dir') fail('ENOTDIR', `${dirname(to)}: not a directory`);
    }
    const srcLower = this.lowerPositive(from);
    // A pure-upper directory moved into a merged directory is marked opaque, so that a lower directory
    // of the same name can never merge into it (ovl_rename).
    const dstParentMerged = this.mustResolve(dirname(to)).chain.some((i) => !this.hasUpper || i !== 0);
    this.copyUp(from);
    this.copyUp(dirname(to));
    const up = this.upper();
    const upTo = this.upperPath(to);
    const existing = tryLstat(up.fs, upTo);
    if (existing) removeTree(up.fs, upTo);
    up.fs.rename(this.upperPath(from), upTo);
    if (srcLower) up.fs.mknod(this.upperPath(from), 0, 0, { mode: 0 });
    if (isDir && dstParentMerged && up.fs.getxattr(upTo, OPAQUE_XATTR) !== 'y') {
      up.fs.setxattr(upTo, OPAQUE_XATTR, 'y');
    }
  }

  chmod(path: string, mode: number): void {
    this.copyUp(path);
    this.upper().fs.chmod(this.upperPath(path), mode);
  }

  chown(path: string, uid: number, gid: number): void {
    this.copyUp(path);
    this.upper().fs.chown(this.upperPath(path), uid, gid);
  }

  getxattr(path: string, name: string): string | null {
    if (name.startsWith(PRIVATE_XATTR_PREFIX)) return null;
    const [l, p] = this.top(path);
    return l.fs.getxattr(p, name);
  }

  setxattr(path: string, name: string, value: string): void {
    if (name.startsWith(PRIVATE_XATTR_PREFIX)) fail('EPERM', `${name}: reserved for overlayfs`);
    this.copyUp(path);
    this.upper().fs.setxattr(this.upperPath(path), name, value);
  }

  removexattr(path: string, name: string): void {
    if (name.startsWith(PRIVATE_XATTR_PREFIX)) fail('EPERM', `${name}: reserved for overlayfs`);
    this.copyUp(path);
    this.upper().fs.removexattr(this.upperPath(path), name);
  }

  listxattr(path: string): string[] {
    const [l, p] = this.top(path);
    return l.fs.listxattr(p).filter((n) => !n.startsWith(PRIVATE_XATTR_PREFIX));
  }
}
