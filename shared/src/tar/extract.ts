// Safe extraction of a tar stream into a directory (layer apply).
//
// Safety rules: names are cleaned like Docker does (leading '/' and './' dropped) but any '..'
// component is refused; every directory on the way to an entry is checked with lstat and must be a
// real directory (a symlink, even one created by this archive, is refused, never followed); the
// final component is created with O_EXCL / link() / symlink(), which never follow symlinks; an
// existing non-directory in the way is removed first, never written through. Hardlink targets obey
// the same rules. Device nodes need a hook.
//
// File system calls are synchronous: each takes microseconds, while a thread-pool round trip per
// call would dominate a layer of many small files. Reading the archive stays asynchronous.

import { execFile } from 'node:child_process';
import {
  closeSync,
  constants as fsc,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  realpathSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  chmodSync,
  type Stats,
} from 'node:fs';
import { readTar } from './reader.js';
import { TarError, type TarEntry } from './types.js';
import { WHITEOUT_OPAQUE, WHITEOUT_PREFIX } from './directory.js';

export interface ExtractHooks {
  /** An OCI whiteout `.wh.NAME`: `absPath` is DIR/NAME (overlay: make a 0/0 char device there). */
  whiteout?: (absPath: string, entry: TarEntry) => void | Promise<void>;
  /** An opaque marker `DIR/.wh..wh..opq` (overlay: set trusted.overlay.opaque=y on DIR). */
  opaque?: (absDirPath: string, entry: TarEntry) => void | Promise<void>;
  /** Creates a char/block device or FIFO at absPath (nothing exists there). Without it devices are refused. */
  mknod?: (absPath: string, entry: TarEntry) => void | Promise<void>;
  /**
   * Sets ownership (never following symlinks). Default: lchown when running as root, else nothing.
   * `false` disables ownership changes.
   */
  chown?: ((absPath: string, uid: number, gid: number, entry: TarEntry) => void | Promise<void>) | false;
  /** Receives PAX xattrs (SCHILY.xattr.*); without it they are ignored. */
  xattrs?: (absPath: string, xattrs: Record<string, Uint8Array>, entry: TarEntry) => void | Promise<void>;
  /** Return false to skip an entry (its body is skipped). */
  filter?: (entry: TarEntry) => boolean;
}

export interface ExtractResult {
  /** Entries handled, whiteouts included. */
  entries: number;
  /** File body bytes written. */
  bytes: number;
}

function errCode(e: unknown): string | undefined {
  return e instanceof Error && 'code' in e ? String((e as NodeJS.ErrnoException).code) : undefined;
}

/** Splits an archive name into clean components: '' and '.' dropped, '..' refused. */
export function cleanComponents(name: string, entry: string, what = 'path'): string[] {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..')
      throw new TarError(`refusing ${what} ${JSON.stringify(name)} with a '..' component`, { entry });
    if (part.includes('\0')) throw new TarError(`refusing ${what} with a NUL byte`, { entry });
    out.push(part);
  }
  return out;
}

interface DirFixup {
  abs: string;
  mode: number;
  mtime: number;
}

function lstatOrNull(abs: string): Stats | null {
  try {
    return lstatSync(abs);
  } catch (e) {
    if (errCode(e) === 'ENOENT') return null;
    throw e;
  }
}

/** Extracts `source` into `destDir` (which must exist). Throws a TarError naming the entry on refusal. */
export async function extractTar(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  destDir: string,
  hooks: ExtractHooks = {},
): Promise<ExtractResult> {
  const root = realpathSync(destDir);
  if (!lstatSync(root).isDirectory()) throw new TarError(`destination ${destDir} is not a directory`);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const customChown = typeof hooks.chown === 'function' ? hooks.chown : null;
  const defaultChown = hooks.chown === undefined && isRoot;

  /** Relative directory paths known to be real directories (not symlinks) inside root. */
  const verified = new Set<string>();
  /** Directory modes/mtimes applied at the end (children change mtimes; modes may forbid writes). */
  const fixups = new Map<string, DirFixup>();
  const result: ExtractResult = { entries: 0, bytes: 0 };

  /** Forget what we knew about `rel` and everything below it (it is being replaced). */
  const invalidate = (rel: string): void => {
    const prefix = `${rel}/`;
    for (const k of verified) if (k === rel || k.startsWith(prefix)) verified.delete(k);
    for (const k of fixups.keys()) if (k === rel || k.startsWith(prefix)) fixups.delete(k);
  };

  /** Checks (and with `create`, makes) each directory of `parts`; refuses symlinks and non-dirs. */
  const resolveDirs = (parts: readonly string[], entry: string, create: boolean): string => {
    let rel = '';
    for (const part of parts) {
      rel = rel === '' ? part : `${rel}/${part}`;
      if (verified.has(rel)) continue;
      const abs = `${root}/${rel}`;
      const st = lstatOrNull(abs);
      if (st === null) {
        if (!create) throw new TarError(`${JSON.stringify(rel)} does not exist`, { entry });
        mkdirSync(abs);
        chmodSync(abs, 0o755); // implicit parents: 0755 whatever the umask
      } else if (st.isSymbolicLink()) {
        throw new TarError(`refusing to go through symlink ${JSON.stringify(rel)}`, { entry });
      } else if (!st.isDirectory()) {
        throw new TarError(`${JSON.stringify(rel)} is not a directory`, { entry });
      }
      verified.add(rel);
    }
    return parts.length === 0 ? root : `${root}/${rel}`;
  };

  /** Removes whatever is at `abs` unless it is a directory and `keepDir`. Returns true if kept. */
  const clear = (abs: string, rel: string, keepDir: boolean): boolean => {
    const st = lstatOrNull(abs);
    if (st === null) return false;
    if (keepDir && st.isDirectory()) return true;
    if (st.isDirectory()) {
      // Only directories are ever cached, so only removing one can make the caches stale.
      invalidate(rel);
      rmSync(abs, { recursive: true, force: true });
    } else {
      unlinkSync(abs);
    }
    return false;
  };

  /** Runs `create`; if the name exists, clears it and retries once. */
  const createExclusive = <T>(abs: string, rel: string, create: () => T): T => {
    try {
      return create();
    } catch (e) {
      if (errCode(e) !== 'EEXIST') throw e;
    }
    clear(abs, rel, false);
    return create();
  };

  /** Ownership for a name (never following a symlink). */
  const applyOwner = async (abs: string, entry: TarEntry): Promise<void> => {
    if (customChown) await customChown(abs, entry.uid, entry.gid, entry);
    else if (defaultChown) lchownSync(abs, entry.uid, entry.gid);
  };

  const applyXattrs = async (abs: string, entry: TarEntry): Promise<void> => {
    if (hooks.xattrs && Object.keys(entry.xattrs).length > 0) await hooks.xattrs(abs, entry.xattrs, entry);
  };

  for await (const entry of readTar(source)) {
    const name = entry.path;
    try {
      if (hooks.filter && !hooks.filter(entry)) continue;
      const parts = cleanComponents(name, name);
      if (parts.length === 0) {
        if (entry.type === 'dir') continue; // the archive's root ("./"): leave destDir as it is
        throw new TarError('entry without a name', { entry: name });
      }
      const base = parts[parts.length - 1]!;
      const dirParts = parts.slice(0, -1);
      result.entries++;

      // OCI whiteouts.
      if (base.startsWith(WHITEOUT_PREFIX)) {
        const parentAbs = resolveDirs(dirParts, name, true);
        if (base === WHITEOUT_OPAQUE) {
          if (!hooks.opaque) throw new TarError('opaque whiteout but no opaque hook', { entry: name });
          await hooks.opaque(parentAbs, entry);
          continue;
        }
        const target = base.slice(WHITEOUT_PREFIX.length);
        if (target === '' || target === '.' || target === '..' || target.startsWith(WHITEOUT_PREFIX)) {
          throw new TarError('malformed whiteout name', { entry: name });
        }
        if (!hooks.whiteout) throw new TarError('whiteout but no whiteout hook', { entry: name });
        invalidate([...dirParts, target].join('/'));
        await hooks.whiteout(`${parentAbs}/${target}`, entry);
        continue;
      }

      const parentAbs = resolveDirs(dirParts, name, true);
      const abs = `${parentAbs}/${base}`;
      const rel = parts.join('/');

      switch (entry.type) {
        case 'dir': {
          if (!clear(abs, rel, true)) mkdirSync(abs, 0o700);
          verified.add(rel);
          await applyOwner(abs, entry);
          await applyXattrs(abs, entry);
          fixups.set(rel, { abs, mode: entry.mode, mtime: entry.mtime });
          break;
        }
        case 'file': {
          const fd = createExclusive(abs, rel, () =>
            openSync(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600),
          );
          try {
            for await (const chunk of entry.body()) {
              let off = 0;
              while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
              result.bytes += chunk.length;
            }
            if (customChown) await customChown(abs, entry.uid, entry.gid, entry);
            else if (defaultChown) fchownSync(fd, entry.uid, entry.gid);
            fchmodSync(fd, entry.mode); // after chown, which clears setuid/setgid
            await applyXattrs(abs, entry);
            futimesSync(fd, entry.mtime, entry.mtime);
          } finally {
            closeSync(fd);
          }
          break;
        }
        case 'symlink': {
          createExclusive(abs, rel, () => symlinkSync(entry.linkpath, abs));
          await applyOwner(abs, entry);
          await applyXattrs(abs, entry);
          lutimesSync(abs, entry.mtime, entry.mtime);
          break;
        }
        case 'hardlink': {
          const targetParts = cleanComponents(entry.linkpath, name, 'hardlink target');
          if (targetParts.length === 0) throw new TarError('hardlink to the root', { entry: name });
          const targetDir = resolveDirs(targetParts.slice(0, -1), name, false);
          const targetAbs = `${targetDir}/${targetParts[targetParts.length - 1]!}`;
          const tst = lstatOrNull(targetAbs);
          if (tst === null) {
            throw new TarError(`hardlink target ${JSON.stringify(entry.linkpath)} does not exist`, {
              entry: name,
            });
          }
          if (tst.isDirectory()) throw new TarError('hardlink to a directory', { entry: name });
          if (targetAbs === abs) break;
          // link(2) does not follow a symlink target: the new name is another link to the symlink.
          createExclusive(abs, rel, () => linkSync(targetAbs, abs));
          break;
        }
        case 'char':
        case 'block':
        case 'fifo': {
          clear(abs, rel, false);
          if (hooks.mknod) {
            await hooks.mknod(abs, entry);
          } else if (entry.type === 'fifo') {
            // Node has no mkfifo(3); the coreutils tool does the same.
            await new Promise<void>((resolve, reject) => {
              execFile('mkfifo', ['-m', '600', '--', abs], (err) => (err ? reject(err) : resolve()));
            });
          } else {
            throw new TarError(
              `refusing ${entry.type} device ${entry.devmajor}:${entry.devminor} (no mknod hook)`,
              { entry: name },
            );
          }
          const st = lstatOrNull(abs);
          if (st === null || st.isSymbolicLink()) {
            throw new TarError('the mknod hook did not create the node', { entry: name });
          }
          await applyOwner(abs, entry);
          chmodSync(abs, entry.mode);
          lutimesSync(abs, entry.mtime, entry.mtime);
          break;
        }
      }
    } catch (e) {
      if (e instanceof TarError) throw e;
      throw new TarError(`cannot extract: ${e instanceof Error ? e.message : String(e)}`, { entry: name });
    }
  }

  // Deepest first, so a parent's mtime is set after its children are done. The directories are
  // opened with O_NOFOLLOW, and every parent on the way was verified (replacements invalidate).
  const dirs = [...fixups.values()].sort((a, b) => b.abs.length - a.abs.length);
  for (const d of dirs) {
    const fd = openSync(d.abs, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
    try {
      fchmodSync(fd, d.mode);
      futimesSync(fd, d.mtime, d.mtime);
    } finally {
      closeSync(fd);
    }
  }
  return result;
}
