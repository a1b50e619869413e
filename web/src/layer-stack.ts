// The layer-stack picture's data: from "<layer>\t<type>\t<path>" listings of each layer's directory
// (bottom layer first, as either backend prints them), which layer each visible path comes from, which
// copies it shadows, and which names whiteouts hide. Pure, so it is tested without a browser.

export type EntryType = 'd' | 'f' | 'l' | 'w';

export interface StackRow {
  path: string;
  /** Per layer (same order as `layers`): what that layer has at this path, or null. */
  cells: Array<EntryType | null>;
  /** Index of the layer whose entry is visible in the merged view; null when a whiteout hides it. */
  origin: number | null;
  /** Index of the layer whose whiteout hides the path, if any. */
  hiddenBy: number | null;
}

export interface LayerStack {
  /** Layer names, bottom first. */
  layers: string[];
  rows: StackRow[];
  /** Symlinks left out of the rows (busybox's applet links), per layer. */
  collapsedLinks: number[];
}

/** A listing's lines; type 'L' (with no path) declares a layer, so that empty layers are shown too. */
export function parseListing(text: string): Array<{ layer: string; type: EntryType | 'L'; path: string }> {
  const out: Array<{ layer: string; type: EntryType | 'L'; path: string }> = [];
  for (const line of text.split('\n')) {
    const [layer, type, path] = line.split('\t');
    if (layer === undefined || path === undefined || !['d', 'f', 'l', 'w', 'L'].includes(type ?? ''))
      continue;
    out.push({ layer, type: type as EntryType | 'L', path });
  }
  return out;
}

/**
 * overlayfs lookup, per path: the highest layer with the name wins; a whiteout there (or on any
 * parent, in a higher or equal layer) means the name is gone. Directories are merged, so only files,
 * links and whiteouts are rows; bin/ symlinks are counted, not listed (hundreds of busybox applets).
 */
export function layerStack(listing: string): LayerStack {
  const entries = parseListing(listing);
  const layers: string[] = [];
  for (const e of entries) if (!layers.includes(e.layer)) layers.push(e.layer);
  const at = new Map<string, Array<EntryType | null>>();
  const collapsedLinks = layers.map(() => 0);
  for (const e of entries) {
    const i = layers.indexOf(e.layer);
    if (e.type === 'L') continue;
    if (e.type === 'l' && e.path.startsWith('bin/')) {
      collapsedLinks[i] = (collapsedLinks[i] ?? 0) + 1;
      continue;
    }
    let cells = at.get(e.path);
    if (!cells) {
      cells = layers.map(() => null);
      at.set(e.path, cells);
    }
    cells[i] = e.type;
  }
  const whiteoutAbove = (path: string): number | null => {
    // Highest layer holding a whiteout at a parent of `path`.
    const parts = path.split('/');
    let best: number | null = null;
    for (let n = 1; n < parts.length; n++) {
      const cells = at.get(parts.slice(0, n).join('/'));
      cells?.forEach((c, i) => {
        if (c === 'w' && (best === null || i > best)) best = i;
      });
    }
    return best;
  };
  const rows: StackRow[] = [];
  for (const [path, cells] of [...at.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    if (cells.every((c) => c === 'd' || c === null)) continue;
    let top: number | null = null;
    for (let i = cells.length - 1; i >= 0; i--) {
      if (cells[i] !== null && cells[i] !== undefined) {
        top = i;
        break;
      }
    }
    const parentWh = whiteoutAbove(path);
    let origin: number | null = top;
    let hiddenBy: number | null = null;
    if (top !== null && cells[top] === 'w') {
      origin = null;
      hiddenBy = top;
    }
    if (parentWh !== null && (top === null || parentWh >= top)) {
      origin = null;
      hiddenBy = parentWh;
    }
    rows.push({ path, cells: [...cells], origin, hiddenBy });
  }
  return { layers, rows, collapsedLinks };
}
