// The web demo's pictures and model answers, with model data only (no browser, no guest): the layer
// stack's origins and whiteouts, and the lessons' model transcripts.
import { describe, expect, it } from 'vitest';
import { layerStack } from '../../web/src/layer-stack.ts';
import * as model from '../../web/src/model-lessons.ts';
import * as modelDocker from '../../web/src/model-docker.ts';
import { nsGraph } from '../../web/src/ns-graph.ts';
import { mountDiff } from '../../web/src/mount-diff.ts';
import { copyUp } from '../../web/src/copy-up.ts';
import {
  BuildPlanError,
  buildPlanText,
  buildScript,
  DEMO_DOCKERFILE,
  planBuild,
} from '../../web/src/dockerfile-build.ts';

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

describe('chroot lesson (model)', () => {
  it('a hand-made rootfs: / is the directory, the host has nothing more to show', () => {
    const out = model.chrootHandmade();
    expect(out).toMatch(
      /\$ chroot \/tmp\/rootfs \/bin\/sh\n\$ ls \/\nbin\n\$ ls \/bin\nbusybox\ncat\nls\nsh\n/,
    );
    expect(out).toContain("cat: can't open '/etc/os-release': No such file or directory");
  });

  it("an image's base layer as root: its files, and every namespace still the host's", () => {
    const out = model.chrootImage();
    expect(out).toMatch(/\$ cat \/etc\/os-release\nNAME="Strata demo"/);
    expect(out).toMatch(/\$ ls \/\nbin\ndev\netc\nproc\nroot\nsys\ntmp\nusr\nvar\n/);
    const rows = out.split('\n').filter((l) => /^(mnt|uts|pid|net)\t/.test(l));
    expect(rows).toHaveLength(4);
    for (const [, host, chrooted] of rows.map((l) => l.split('\t'))) expect(chrooted).toBe(host);
  });
});

describe('namespace graph', () => {
  it("docker exec (model): the exec'd process is in every namespace of app's PID 1", () => {
    const g = nsGraph(modelDocker.execGraph());
    expect(g.processes).toEqual(['host: PID 1', 'app: PID 1', 'docker exec app']);
    expect(g.kinds).toEqual(['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts']);
    for (const kind of g.kinds) {
      const nodes = g.nodes.filter((n) => n.kind === kind);
      // cgroup: one node for all three (no cgroup namespace); otherwise the host's and the container's.
      expect(nodes.map((n) => n.members)).toEqual(kind === 'cgroup' ? [[0, 1, 2]] : [[0], [1, 2]]);
    }
  });

  it('--net container: (model): one net node shared by web and side, the rest separate', () => {
    const g = nsGraph(modelDocker.netGraph());
    const members = (kind: string) => g.nodes.filter((n) => n.kind === kind).map((n) => n.members);
    expect(members('net')).toEqual([[0], [1, 2]]);
    for (const kind of ['ipc', 'mnt', 'pid', 'uts']) expect(members(kind)).toEqual([[0], [1], [2]]);
  });

  it('ignores rows that do not match the header', () => {
    const g = nsGraph('process\ta\tb\nnet\tnet:[1]\tnet:[1]\nbroken\tx\nuts\tuts:[2]\tuts:[3]');
    expect(g.kinds).toEqual(['net', 'uts']);
    expect(g.nodes).toHaveLength(3);
  });
});

describe('host and container mount tables', () => {
  it('model: the root is another mount, the volume only in the container, the host keeps its own', () => {
    const d = mountDiff(modelDocker.volumeMounts());
    expect(d.titles).toEqual(['host: cat /proc/self/mountinfo', 'container vol2: cat /proc/self/mountinfo']);
    const row = (mp: string) => d.rows.find((r) => r.mountPoint === mp);
    expect(row('/')?.kind).toBe('changed');
    expect(row('/')?.container?.fsType).toBe('overlay');
    expect(row('/test')).toMatchObject({ kind: 'container-only' });
    expect(row('/test')?.container?.root).toBe('/var/lib/strata/volumes/demo-vol/_data');
    expect(d.rows.some((r) => r.kind === 'host-only' && r.mountPoint.endsWith('/merged'))).toBe(true);
  });

  it("the guest's tables (captured output): /proc is another proc instance", () => {
    const text = [
      '### host',
      '20 1 0:18 / / rw,relatime - tmpfs rootfs rw,mode=755',
      '21 20 0:19 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw',
      '29 20 0:25 / /mnt/host rw,relatime - 9p host9p rw,sync,dirsync,access=client,trans=virtio',
      '### container',
      '71 54 0:36 / / rw,relatime - overlay overlay rw,lowerdir=/l/A,upperdir=/u,workdir=/w',
      '73 71 0:18 /srv/data /data rw,relatime - tmpfs rootfs rw,mode=755',
      '74 71 0:39 / /proc rw,relatime - proc proc rw',
    ].join('\n');
    const kinds = Object.fromEntries(mountDiff(text).rows.map((r) => [r.mountPoint, r.kind]));
    expect(kinds).toEqual({
      '/': 'changed',
      '/proc': 'changed',
      '/mnt/host': 'host-only',
      '/data': 'container-only',
    });
  });
});

describe('copy-up', () => {
  it('model: t1.txt appears in upper and the merged view reads it from there; t3.txt gets a whiteout', () => {
    const c = copyUp(modelDocker.copyUpModel());
    expect(c.layers).toEqual(['B', 'A', 'upper']);
    expect(c.action).toBe('echo edited >> C/t1.txt; rm C/t3.txt');
    const row = (p: string) => c.rows.find((r) => r.path === p);
    expect(row('t1.txt')).toMatchObject({ originBefore: 1, originAfter: 2 });
    expect(row('t1.txt')?.cells[2]).toEqual({ before: null, after: 'f' });
    expect(row('t1.txt')?.cells[1]).toEqual({ before: 'f', after: 'f' }); // A keeps its copy
    expect(row('t3.txt')).toMatchObject({ originBefore: 0, originAfter: null });
    expect(row('t3.txt')?.cells[2]).toEqual({ before: null, after: 'w' });
    expect(row('t2.txt')).toMatchObject({ originBefore: 1, originAfter: 1 });
  });
});

describe('Dockerfile build plan', () => {
  it('one layer per RUN, each on the layers before it; ENV, WORKDIR and CMD into the config', () => {
    const p = planBuild(DEMO_DOCKERFILE);
    const runs = p.steps.flatMap((s) => (s.run ? [s.run] : []));
    expect(runs).toHaveLength(2);
    expect(runs[1]?.lower.startsWith(`l/${runs[0]?.short ?? '?'}:`)).toBe(true);
    expect(runs[0]?.env).toEqual(['GREETING=hello from a Dockerfile']);
    expect(p.lower.split(':')).toHaveLength(5);
    expect(p).toMatchObject({ workdir: '/app', cmd: 'sh hello.sh' });
    expect(p.steps[0]?.title).toBe('Step 1/6 : FROM strata-demo');
    expect(buildPlanText(DEMO_DOCKERFILE)).toContain('demo-app: 5 layers');
    expect(buildScript(DEMO_DOCKERFILE)).toContain('build_run build-demo-app-2 BLD2DEMOAPP');
  });

  it('names the line of what the demo cannot build', () => {
    expect(() => planBuild('FROM strata-demo\nCOPY . /app\n')).toThrow(
      /^Dockerfile line 2: COPY: the demo builds from the Dockerfile alone/,
    );
    expect(() => planBuild('FROM ubuntu\n')).toThrow(
      /line 1: FROM: the demo has one base image: strata-demo/,
    );
    expect(() => planBuild('RUN true\n')).toThrow(/line 1: RUN: the first instruction must be FROM/);
    expect(() => planBuild('FROM strata-demo\nEXPOSE 80\n')).toThrow(BuildPlanError);
  });
});
