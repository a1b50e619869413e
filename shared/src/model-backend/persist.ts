// The model backend's state between processes: the model host's /var/lib/strata tree (the overlay2
// snapshots) as one JSON text, written after every change and read back at start. File contents are
// base64 (they are bytes); whiteouts are character devices 0/0 and opaque marks are xattrs, kept as
// such. Pure TypeScript: where the text is kept is the host's business (node.ts: a file in the store).

import type { Process } from '../model/index.js';

interface SavedEntry {
  /** Path relative to the saved directory. */
  p: string;
  k: 'dir' | 'file' | 'symlink' | 'chardev';
  m: number;
  u: number;
  g: number;
  /** base64 content (files), link target (symlinks), "major:minor" (devices). */
  v?: string;
  x?: Record<string, string>;
}

const XATTRS = ['trusted.overlay.opaque'];

/** Everything below `dir`, parents first, as JSON text. */
export function saveTree(p: Process, dir: string): string {
  const out: SavedEntry[] = [];
  const walk = (rel: string): void => {
    for (const name of p.readdir(rel ? `${dir}/${rel}` : dir)) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = `${dir}/${r}`;
      const st = p.lstat(abs);
      const e: SavedEntry = { p: r, k: st.kind, m: st.mode, u: st.uid, g: st.gid };
      if (st.kind === 'file') e.v = btoa(p.readFile(abs));
      else if (st.kind === 'symlink') e.v = p.readlink(abs);
      else if (st.kind === 'chardev') e.v = `${st.rdevMajor}:${st.rdevMinor}`;
      for (const x of XATTRS) {
        const val = p.getxattr(abs, x);
        if (val !== null) e.x = { ...e.x, [x]: val };
      }
      out.push(e);
      if (st.kind === 'dir') walk(r);
    }
  };
  walk('');
  return JSON.stringify({ version: 1, entries: out });
}

/** Recreate what saveTree wrote below `dir` (which exists; entries already there are kept). */
export function loadTree(p: Process, dir: string, text: string): void {
  const saved = JSON.parse(text) as { version: number; entries: SavedEntry[] };
  if (saved.version !== 1) throw new Error(`model state: unknown version ${saved.version}`);
  for (const e of saved.entries) {
    const abs = `${dir}/${e.p}`;
    const attrs = { mode: e.m, uid: e.u, gid: e.g };
    if (e.k === 'dir') {
      if (!p.exists(abs)) p.mkdir(abs, attrs);
    } else if (e.k === 'file') p.writeFile(abs, atob(e.v ?? ''), attrs);
    else if (e.k === 'symlink') p.symlink(e.v ?? '', abs);
    else {
      const [major = 0, minor = 0] = (e.v ?? '0:0').split(':').map(Number);
      p.mknod(abs, major, minor, attrs);
    }
    for (const [name, value] of Object.entries(e.x ?? {})) p.setxattr(abs, name, value);
  }
}
