// The host's mount table next to a container's: rows matched by mount point, each marked as only on
// one side, on both but different (another filesystem or source), or the same. Input: mountinfo
// sections headed "### <title>" (host first). Pure, so it is tested without a browser.
import { parseMountinfo, type MountInfo } from '../../shared/src/mount/mountinfo.ts';

export type DiffKind = 'same' | 'changed' | 'host-only' | 'container-only';

export interface DiffRow {
  mountPoint: string;
  host: MountInfo | null;
  container: MountInfo | null;
  kind: DiffKind;
}

export interface MountDiff {
  titles: [string, string];
  rows: DiffRow[];
}

export function splitSections(text: string): Array<{ title: string; body: string }> {
  const out: Array<{ title: string; body: string }> = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('### ')) out.push({ title: line.slice(4), body: '' });
    else if (out.length > 0 && line.trim() !== '') {
      const last = out[out.length - 1];
      if (last) last.body += `${line}\n`;
    }
  }
  return out;
}

/** The same mount at one point: one superblock (device number) and the same part of it mounted. */
function same(a: MountInfo, b: MountInfo): boolean {
  return a.major === b.major && a.minor === b.minor && a.fsType === b.fsType && a.root === b.root;
}

export function mountDiff(text: string): MountDiff {
  const [h, c] = splitSections(text);
  const host = parseMountinfo(h?.body ?? '');
  const ctr = parseMountinfo(c?.body ?? '');
  const rows: DiffRow[] = [];
  const points = [...new Set([...host.map((e) => e.mountPoint), ...ctr.map((e) => e.mountPoint)])];
  for (const mp of points) {
    // The last mount at a point is the one seen there.
    const a = host.filter((e) => e.mountPoint === mp).pop() ?? null;
    const b = ctr.filter((e) => e.mountPoint === mp).pop() ?? null;
    const kind: DiffKind = a && b ? (same(a, b) ? 'same' : 'changed') : a ? 'host-only' : 'container-only';
    rows.push({ mountPoint: mp, host: a, container: b, kind });
  }
  return { titles: [h?.title ?? 'host', c?.title ?? 'container'], rows };
}
