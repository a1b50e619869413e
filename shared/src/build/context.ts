// The build context: which files a COPY/ADD source names (globs, directories, .dockerignore), their
// content checksum for the build cache, and the layer entries they become.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { StrataError } from '../errors.js';
import type { TarInput } from '../tar/types.js';
import { isIgnored, parseDockerignore, type IgnoreRule } from './dockerignore.js';

export class BuildContext {
  readonly rules: IgnoreRule[];

  constructor(readonly dir: string) {
    const ignoreFile = path.join(dir, '.dockerignore');
    this.rules = fs.existsSync(ignoreFile) ? parseDockerignore(fs.readFileSync(ignoreFile, 'utf8')) : [];
  }

  ignored(rel: string): boolean {
    return isIgnored(this.rules, rel);
  }

  /** Context-relative paths a source names; a glob may name several, a plain path exactly one. */
  resolve(source: string): string[] {
    const normal = path.posix.normalize(source.replace(/^\/+/, '') || '.');
    if (normal === '..' || normal.startsWith('../')) {
      throw new StrataError(`forbidden path outside the build context: ${source}`);
    }
    if (!/[*?[]/.test(normal)) {
      const abs = path.join(this.dir, normal);
      if (!fs.existsSync(abs) || (normal !== '.' && this.ignored(normal))) {
        throw new StrataError(`file not found in build context or excluded by .dockerignore: stat ${source}: file does not exist`);
      }
      return [normal];
    }
    const re = new RegExp(
      '^' +
        normal
          .split('')
          .map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c === '[' || c === ']' ? c : c.replace(/[.+^${}()|\\]/g, '\\$&')))
          .join('') +
        '$',
    );
    const depth = normal.split('/').length;
    const matches = this.walk('.')
      .filter((rel) => rel.split('/').length === depth && re.test(rel))
      .sort();
    if (matches.length === 0) throw new StrataError(`no source files were specified: ${source}`);
    return matches;
  }

  /** Every non-ignored path under `rel` (itself included unless '.'), sorted. */
  walk(rel: string): string[] {
    const out: string[] = [];
    const visit = (r: string) => {
      const abs = path.join(this.dir, r);
      const st = fs.lstatSync(abs);
      if (r !== '.') {
        if (this.ignored(r)) return;
        out.push(r);
      }
      if (st.isDirectory()) {
        for (const name of fs.readdirSync(abs).sort()) visit(r === '.' ? name : `${r}/${name}`);
      }
    };
    visit(rel);
    return out;
  }

  /** A checksum of names, modes and contents of what the sources name (Docker's cache key part). */
  checksum(rels: string[]): string {
    const h = createHash('sha256');
    for (const rel of rels) {
      for (const p of fs.lstatSync(path.join(this.dir, rel)).isDirectory() ? ['.', ...this.walk(rel).map((x) => path.posix.relative(rel, x))] : ['.']) {
        const abs = path.join(this.dir, rel, p);
        const st = fs.lstatSync(abs);
        h.update(`${rel}/${p}\0${st.mode}\0`);
        if (st.isFile()) h.update(fs.readFileSync(abs));
        else if (st.isSymbolicLink()) h.update(fs.readlinkSync(abs));
        h.update('\0');
      }
    }
    return h.digest('hex');
  }
}

export interface CopyTarget {
  /** Absolute destination inside the image. */
  dest: string;
  uid: number;
  gid: number;
  /** ADD: extract local tar archives instead of copying them. */
  extractArchives: boolean;
}

const ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.bz2|tbz2|tar\.xz|txz)$/;

export function isArchive(file: string): boolean {
  return ARCHIVE.test(file);
}

/**
 * The layer entries for COPY/ADD of `sources` to `target`, with Docker's rules: a directory source
 * copies its contents; several sources or a trailing / make the destination a directory; missing
 * parents are created 0755.
 */
export function copyEntries(ctx: BuildContext, sources: string[], destRaw: string, target: CopyTarget): { entries: TarInput[]; archives: Array<{ file: string; dest: string }> } {
  const dest = target.dest;
  const destIsDir = destRaw.endsWith('/') || sources.length > 1 || (sources.length === 1 && fs.statSync(path.join(ctx.dir, sources[0]!)).isDirectory());
  const entries = new Map<string, TarInput>();
  const archives: Array<{ file: string; dest: string }> = [];
  const own = { uid: target.uid, gid: target.gid };
  const addParents = (p: string) => {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!entries.has(dir)) entries.set(dir, { header: { path: dir, type: 'dir', mode: 0o755, uid: 0, gid: 0 } });
    }
  };
  const addFile = (rel: string, at: string) => {
    const abs = path.join(ctx.dir, rel);
    const st = fs.lstatSync(abs);
    const name = at.replace(/^\/+/, '');
    addParents(name);
    const mtime = Math.floor(st.mtimeMs / 1000);
    if (st.isDirectory()) entries.set(name, { header: { path: name, type: 'dir', mode: st.mode & 0o7777, mtime, ...own } });
    else if (st.isSymbolicLink()) entries.set(name, { header: { path: name, type: 'symlink', linkpath: fs.readlinkSync(abs), mtime, ...own } });
    else if (st.isFile()) {
      if (target.extractArchives && isArchive(rel)) {
        archives.push({ file: abs, dest: path.posix.dirname(at) });
        return;
      }
      entries.set(name, { header: { path: name, type: 'file', mode: st.mode & 0o7777, size: st.size, mtime, ...own }, body: () => fs.createReadStream(abs) });
    }
  };
  for (const src of sources) {
    const abs = path.join(ctx.dir, src);
    if (fs.statSync(abs).isDirectory()) {
      if (dest !== '/') addFile(src, dest); // the destination dir itself (metadata from the source)
      for (const rel of ctx.walk(src)) addFile(rel, path.posix.join(dest, path.posix.relative(src, rel)));
    } else {
      addFile(src, destIsDir ? path.posix.join(dest, path.posix.basename(src)) : dest);
    }
  }
  return { entries: [...entries.values()], archives };
}
