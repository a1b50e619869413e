// The web demo's pictures and model answers, with model data only (no browser, no guest): the layer
// stack's origins and whiteouts, and the lessons' model transcripts.
import { describe, expect, it } from 'vitest';
import { layerStack } from '../../web/src/layer-stack.ts';
import * as model from '../../web/src/model-lessons.ts';

describe('layer stack', () => {
  it('a hand-made listing: top layer wins, whiteouts hide lower copies and whole directories', () => {
    const listing = [
      'base\tL\t',
      'base\tf\ta.txt',
      'base\tf\tb.txt',
      'base\td\tdir',
      'base\tf\tdir/x',
      'base\tl\tbin/sh',
      'mid\tL\t',
      'mid\tf\ta.txt',
      'mid\tw\tdir',
      'top\tL\t',
      'top\tw\tb.txt',
    ].join('\n');
    const s = layerStack(listing);
    expect(s.layers).toEqual(['base', 'mid', 'top']);
    expect(s.collapsedLinks).toEqual([1, 0, 0]);
    const row = (p: string) => s.rows.find((r) => r.path === p);
    expect(row('a.txt')).toMatchObject({ origin: 1, hiddenBy: null, cells: ['f', 'f', null] });
    expect(row('b.txt')).toMatchObject({ origin: null, hiddenBy: 2 });
    expect(row('dir/x')).toMatchObject({ origin: null, hiddenBy: 1 });
    expect(row('dir')).toMatchObject({ origin: null, hiddenBy: 1 });
  });

  it("the model's container c1: image layers, init layer, an empty read-write layer", () => {
    const s = layerStack(model.layersStack());
    expect(s.layers).toEqual([
      'base (busybox rootfs)',
      'etc usr var',
      'var (and a delete)',
      'c1-init',
      'c1 (read-write)',
    ]);
    const origin = (p: string) => {
      const r = s.rows.find((x) => x.path === p);
      return r?.origin === null ? `deleted by ${s.layers[r.hiddenBy ?? -1]}` : s.layers[r?.origin ?? -1];
    };
    expect(origin('etc/issue')).toBe('deleted by var (and a delete)');
    expect(origin('var/lib/demo/data')).toBe('var (and a delete)');
    expect(origin('etc/hostname')).toBe('c1-init');
    const cow = layerStack(model.layersCow());
    const cowRow = (p: string) => cow.rows.find((x) => x.path === p);
    expect(cowRow('etc/motd')?.origin).toBe(4);
    expect(cowRow('etc/os-release')).toMatchObject({ origin: null, hiddenBy: 4 });
  });
});

describe('model answers', () => {
  it("c1's mount table: the overlay root with the layer chain", () => {
    const first = model.containerMountinfo().split('\n')[0] ?? '';
    expect(first).toMatch(
      / \/ \/ rw,relatime - overlay overlay rw,lowerdir=\/var\/lib\/strata\/overlay2\/l\/INIT\w+:/,
    );
  });

  it('seed experiment 2: the tmpfs is seen only inside', () => {
    expect(model.nsTmpfs()).toContain('none on /tmp type tmpfs (rw,relatime)');
    expect(model.nsTmpfs()).toMatch(/\(host\)\n\(no \/tmp mount\)/);
  });

  it('namespaces side by side: exec equals c1 except where c1 shares the host', () => {
    const rows = model
      .nsSideBySide()
      .split('\n')
      .map((l) => l.split('\t'));
    for (const [kind, host, ctr, exec] of rows) {
      expect(exec).toBe(ctr);
      if (kind === 'cgroup') expect(ctr).toBe(host);
      else expect(ctr).not.toBe(host);
    }
  });

  it('pivot_root and union lessons', () => {
    expect(model.pivotDo()).toContain('NAME="Demo rootfs (not the host)"');
    expect(model.unionReadonly()).toMatch(/cat C\/t2.txt\nA2/);
    expect(model.unionWritable()).toContain('c--------- 0, 0 t3.txt');
  });
});
