// Layers in the kernel model: an OCI layer's entries unpacked into a model directory (OCI whiteouts
// become overlayfs whiteouts and opaque marks, as the native snapshotter does on disk), a diff
// directory turned back into layer entries, and docker diff's change list. Pure TypeScript: the tar
// encoding itself is a LayerCodec the caller supplies (shared/src/tar needs Node's Buffer).

import type { Change, LayerStream } from '../backend.js';
import { sortedUniqueChanges } from '../changes.js';
import { StrataError } from '../errors.js';
import type { Process, Stat } from '../model/index.js';
import { isModelError, isWhiteout, OPAQUE_XATTR } from '../model/index.js';

/** One member of a layer tar, decoded. `content` is set for files. */
export interface LayerEntry {
  /** Relative path inside the layer ("etc/passwd"), no leading "./" or trailing "/". */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  content: Uint8Array | null;
  /** Symlink target, or the hard link's source path in the layer. */
  linkpath: string;
  devmajor: number;
  devminor: number;
}

/** Reads and writes layer tars (the Node implementation wraps shared/src/tar). */
export interface LayerCodec {
  read(layer: LayerStream): AsyncIterable<LayerEntry>;
  write(entries: readonly LayerEntry[]): LayerStream;
}

const WH_PREFIX = '.wh.';
const WH_OPAQUE = '.wh..wh..opq';

// The model's files hold strings; layer files are bytes. One character per byte (latin1) keeps sizes
// and contents exact.
export function bytesToModel(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

export function modelToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** Text as the bytes a program writes (UTF-8), in the model's one-character-per-byte form. */
export function textToModel(text: string): string {
  return bytesToModel(new TextEncoder().encode(text));
}

export function modelToText(s: string): string {
  return new TextDecoder().decode(modelToBytes(s));
}

/** "./a/b/" -> "a/b"; throws on ".." or an absolute escape (a layer must stay inside its dir). */
export function cleanLayerPath(raw: string): string {
  const parts = raw.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new StrataError(`layer entry '${raw}' escapes the layer`);
  return parts.join('/');
}

function lstatOrNull(p: Process, path: string): Stat | null {
  try {
    return p.lstat(path);
  } catch (err) {
    if (isModelError(err, 'ENOENT') || isModelError(err, 'ENOTDIR')) return null;
    throw err;
  }
}

/** rm -rf inside the model, as process `p`. */
export function removeAll(p: Process, path: string): void {
  const st = lstatOrNull(p, path);
  if (!st) return;
  if (st.kind === 'dir') {
    for (const name of p.readdir(path)) removeAll(p, `${path}/${name}`);
    p.rmdir(path);
  } else p.unlink(path);
}

function ensureDir(p: Process, path: string): void {
  const st = lstatOrNull(p, path);
  if (st?.kind === 'dir') return;
  if (st) removeAll(p, path);
  p.mkdirp(path, { mode: 0o755 });
}

/** Unpack one layer entry under `dir` (an absolute model path), as the native extractor does. */
export function applyLayerEntry(p: Process, dir: string, e: LayerEntry): void {
  const rel = cleanLayerPath(e.path);
  if (rel === '') return;
  const at = `${dir}/${rel}`;
  const slash = at.lastIndexOf('/');
  const parent = at.slice(0, slash);
  const base = at.slice(slash + 1);
  ensureDir(p, parent);
  if (base === WH_OPAQUE) {
    p.setxattr(parent, OPAQUE_XATTR, 'y');
    return;
  }
  if (base.startsWith(WH_PREFIX)) {
    const hidden = `${parent}/${base.slice(WH_PREFIX.length)}`;
    removeAll(p, hidden);
    p.mknod(hidden, 0, 0, { mode: 0 });
    return;
  }
  const existing = lstatOrNull(p, at);
  if (existing && !(existing.kind === 'dir' && e.type === 'dir')) removeAll(p, at);
  const attrs = { mode: e.mode & 0o7777, uid: e.uid, gid: e.gid };
  switch (e.type) {
    case 'dir':
      if (existing?.kind === 'dir') p.chmod(at, attrs.mode);
      else p.mkdir(at, attrs);
      return;
    case 'file':
      p.writeFile(at, bytesToModel(e.content ?? new Uint8Array()), attrs);
      return;
    case 'symlink':
      p.symlink(e.linkpath, at);
      return;
    case 'hardlink':
      // The model has no hard links: the link becomes a copy of its source in this layer.
      p.writeFile(at, p.readFile(`${dir}/${cleanLayerPath(e.linkpath)}`), attrs);
      return;
    case 'char':
      p.mknod(at, e.devmajor, e.devminor, attrs);
      return;
    default:
      throw new StrataError(
        `layer entry '${e.path}': ${e.type} files are not modelled (docs/kernel-model.md)`,
      );
  }
}

function entryOf(p: Process, abs: string, rel: string, st: Stat): LayerEntry {
  const base = {
    path: rel,
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    content: null,
    linkpath: '',
    devmajor: 0,
    devminor: 0,
  };
  if (st.kind === 'dir') return { ...base, type: 'dir' };
  if (st.kind === 'file') return { ...base, type: 'file', content: modelToBytes(p.readFile(abs)) };
  if (st.kind === 'symlink') return { ...base, type: 'symlink', linkpath: p.readlink(abs) };
  return { ...base, type: 'char', devmajor: st.rdevMajor, devminor: st.rdevMinor };
}

/**
 * A diff directory as layer entries, parents first and names sorted: overlayfs whiteouts become
 * `.wh.NAME` files and an opaque directory gets `.wh..wh..opq`, with the modes tarDirectory gives
 * them for the native backend (what `docker commit` writes).
 */
export function diffEntries(p: Process, dir: string): LayerEntry[] {
  const out: LayerEntry[] = [];
  const walk = (abs: string, rel: string): void => {
    for (const name of p.readdir(abs)) {
      const a = `${abs}/${name}`;
      const r = rel ? `${rel}/${name}` : name;
      const st = p.lstat(a);
      if (isWhiteout(st)) {
        const wh = rel ? `${rel}/${WH_PREFIX}${name}` : `${WH_PREFIX}${name}`;
        out.push({ ...entryOf(p, a, wh, st), type: 'file', mode: 0o600, content: new Uint8Array() });
        continue;
      }
      out.push(entryOf(p, a, r, st));
      if (st.kind !== 'dir') continue;
      if (p.getxattr(a, OPAQUE_XATTR) === 'y') {
        const marker = `${r}/${WH_OPAQUE}`;
        out.push({
          ...entryOf(p, a, marker, st),
          type: 'file',
          mode: st.mode & 0o777,
          content: new Uint8Array(),
        });
      }
      walk(a, r);
    }
  };
  walk(dir, '');
  return out;
}

/**
 * docker diff of a diff dir over its lower dirs (nearest first): A added, C changed (it exists
 * below; a directory that only holds changes counts), D deleted (a whiteout, or what an opaque
 * directory hides). The same rules as the native snapshotter's.
 */
export function layerChanges(p: Process, diffDir: string, lowerDirs: readonly string[]): Change[] {
  const inLower = (rel: string): Stat | null => {
    for (const l of lowerDirs) {
      const st = lstatOrNull(p, `${l}/${rel}`);
      if (st) return isWhiteout(st) ? null : st;
    }
    return null;
  };
  const out: Change[] = [];
  const walk = (rel: string): void => {
    const abs = rel ? `${diffDir}/${rel}` : diffDir;
    for (const name of p.readdir(abs)) {
      const childRel = rel ? `${rel}/${name}` : name;
      const st = p.lstat(`${diffDir}/${childRel}`);
      if (isWhiteout(st)) {
        out.push({ kind: 'D', path: `/${childRel}` });
        continue;
      }
      const below = inLower(childRel);
      out.push({ kind: below ? 'C' : 'A', path: `/${childRel}` });
      if (st.kind !== 'dir') continue;
      if (below?.kind === 'dir' && p.getxattr(`${diffDir}/${childRel}`, OPAQUE_XATTR) === 'y') {
        const mine = new Set(p.readdir(`${diffDir}/${childRel}`));
        for (const l of lowerDirs) {
          const d = `${l}/${childRel}`;
          if (lstatOrNull(p, d)?.kind !== 'dir') continue;
          for (const n of p.readdir(d)) if (!mine.has(n)) out.push({ kind: 'D', path: `/${childRel}/${n}` });
        }
      }
      walk(childRel);
    }
  };
  walk('');
  return sortedUniqueChanges(out);
}
