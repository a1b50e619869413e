// The copy-up picture's data: two layer listings ("@@ before", "@@ after: <what was done>"), each in
// the layer-stack format, and per path what changed between them in each layer: an entry that
// appeared in the upper layer is a copy-up (or a whiteout, for a delete). Pure, tested without a browser.
import { layerStack, type EntryType, type LayerStack } from './layer-stack.ts';

export interface CopyUpCell {
  before: EntryType | null;
  after: EntryType | null;
}

export interface CopyUpRow {
  path: string;
  /** Per layer, bottom first, as layerStack orders them. */
  cells: CopyUpCell[];
  /** The layer the merged view reads the path from, before and after (null: hidden or absent). */
  originBefore: number | null;
  originAfter: number | null;
}

export interface CopyUp {
  layers: string[];
  action: string;
  rows: CopyUpRow[];
}

export function copyUp(text: string): CopyUp {
  const parts = text.split(/^@@ /m).slice(1);
  const before = parts.find((p) => p.startsWith('before')) ?? '';
  const after = parts.find((p) => p.startsWith('after')) ?? '';
  const action = (after.split('\n')[0] ?? '').replace(/^after:?\s*/, '');
  const b = layerStack(before.split('\n').slice(1).join('\n'));
  const a = layerStack(after.split('\n').slice(1).join('\n'));
  const find = (s: LayerStack, path: string) => s.rows.find((r) => r.path === path);
  const paths = [...new Set([...b.rows, ...a.rows].map((r) => r.path))].sort();
  const rows = paths.map((path) => {
    const rb = find(b, path);
    const ra = find(a, path);
    return {
      path,
      cells: a.layers.map((layer) => {
        const ib = b.layers.indexOf(layer);
        return {
          before: ib >= 0 ? (rb?.cells[ib] ?? null) : null,
          after: ra?.cells[a.layers.indexOf(layer)] ?? null,
        };
      }),
      originBefore: rb?.origin ?? null,
      originAfter: ra?.origin ?? null,
    };
  });
  return { layers: a.layers, action, rows };
}
