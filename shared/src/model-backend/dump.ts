// The state a container leaves in the kernel model, for people: its mount table, and for each overlay
// its layer stack, with the layer each visible file comes from and each layer's whiteouts and opaque
// directories (what `docker diff` and the write-ups explain, made visible).

import type { FileKind, FileSystem, Process } from '../model/index.js';
import { isWhiteout, OPAQUE_XATTR, OverlayFs, tryLstat } from '../model/index.js';

export interface DumpLayer {
  role: 'upper' | 'lower';
  /** The layer directory in the model host's filesystem. */
  path: string;
  whiteouts: string[];
  opaque: string[];
}

export interface DumpFile {
  path: string;
  kind: FileKind;
  /** Index into `layers` of the layer the merged view shows this entry from (the topmost holding it). */
  origin: number;
}

export interface DumpOverlay {
  /** Where the overlay is mounted, as the container sees it. */
  mountPoint: string;
  layers: DumpLayer[];
  files: DumpFile[];
}

export interface ModelDump {
  namespaces: Array<{ pid: number; links: string[]; mountinfo: string }>;
  overlays: DumpOverlay[];
}

const KIND_LETTER: Record<FileKind, string> = { dir: 'd', file: 'f', symlink: 'l', chardev: 'c' };

function join(base: string, rel: string): string {
  return rel === '' ? base : base === '/' ? `/${rel}` : `${base}/${rel}`;
}

/** Whiteouts and opaque directories of one layer directory (paths relative to it, "/"-prefixed). */
function layerMarks(fs: FileSystem, dir: string): { whiteouts: string[]; opaque: string[] } {
  const whiteouts: string[] = [];
  const opaque: string[] = [];
  const walk = (rel: string): void => {
    const abs = join(dir, rel);
    for (const name of fs.readdir(abs)) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstat(join(dir, r));
      if (isWhiteout(st)) whiteouts.push(`/${r}`);
      else if (st.kind === 'dir') {
        if (fs.getxattr(join(dir, r), OPAQUE_XATTR) === 'y') opaque.push(`/${r}`);
        walk(r);
      }
    }
  };
  walk('');
  return { whiteouts, opaque };
}

function dumpOverlay(ov: OverlayFs, mountPoint: string): DumpOverlay {
  const stack = [
    ...(ov.layers.upper ? [{ role: 'upper' as const, l: ov.layers.upper }] : []),
    ...ov.layers.lower.map((l) => ({ role: 'lower' as const, l })),
  ];
  const layers = stack.map(({ role, l }) => ({ role, path: l.path, ...layerMarks(l.fs, l.path) }));
  const files: DumpFile[] = [];
  const walk = (rel: string): void => {
    for (const name of ov.readdir(rel ? `/${rel}` : '/')) {
      const r = rel ? `${rel}/${name}` : name;
      // A directory read from one layer lists its whiteouts, which lstat does not find.
      const st = ov.lstatOrNull(`/${r}`);
      if (!st) continue;
      // The merged view shows the topmost layer's entry (overlay.ts resolves it the same way).
      const origin = stack.findIndex(({ l }) => {
        const s = tryLstat(l.fs, join(l.path, r));
        return s !== null && !isWhiteout(s);
      });
      files.push({ path: `/${r}`, kind: st.kind, origin });
      if (st.kind === 'dir') walk(r);
    }
  };
  walk('');
  return { mountPoint, layers, files };
}

/** Dump what process `p` sees: its mount table, and every overlay mounted in its namespace. */
export function dumpContainer(p: Process): ModelDump {
  const overlays: DumpOverlay[] = [];
  const entries = p.mountinfo();
  for (const m of p.ns.mnt.mounts) {
    if (!(m.sb.fs instanceof OverlayFs)) continue;
    const seen = entries.find((e) => e.mountId === m.id);
    if (seen) overlays.push(dumpOverlay(m.sb.fs, seen.mountPoint));
  }
  const links = (['mnt', 'uts', 'pid', 'net', 'ipc', 'cgroup'] as const).map((k) => p.nsLink(k));
  return { namespaces: [{ pid: p.pid, links, mountinfo: p.readMountinfo() }], overlays };
}

/** The dump as text: mountinfo, then per overlay its layers (with marks) and files with origins. */
export function renderDump(d: ModelDump): string {
  const out: string[] = [];
  for (const ns of d.namespaces) {
    out.push(`# process ${ns.pid}: ${ns.links.join(' ')}`, '## mountinfo', ns.mountinfo.trimEnd());
  }
  for (const o of d.overlays) {
    out.push(`## overlay on ${o.mountPoint}: layers, topmost first`);
    o.layers.forEach((l, i) => {
      out.push(`[${i}] ${l.role} ${l.path}`);
      for (const w of l.whiteouts) out.push(`    whiteout ${w}`);
      for (const q of l.opaque) out.push(`    opaque ${q}`);
    });
    out.push(`## ${o.mountPoint}: each visible entry and the layer it comes from`);
    for (const f of o.files) out.push(`[${f.origin}] ${KIND_LETTER[f.kind]} ${f.path}`);
  }
  return out.join('\n') + '\n';
}
