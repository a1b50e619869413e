// overlay2 snapshots inside the kernel model, laid out as the native snapshotter lays them out on disk
// (docs/store.md): /var/lib/strata/overlay2/<id>/{diff,link,lower,work,merged,committed} and
// overlay2/l/<SHORT> -> ../<id>/diff, all in the model host's filesystem. A snapshot is built under
// <id>.partial and renamed into place, so a failed apply leaves nothing behind.

import type { Change, LayerStream, SnapshotEntry, SnapshotPaths, Snapshotter } from '../backend.js';
import { StrataError } from '../errors.js';
import type { Process } from '../model/index.js';
import { isModelError } from '../model/index.js';
import { shortLinkName } from '../overlay2.js';
import type { LayerCodec } from './layer.js';
import {
  applyLayerEntry,
  cleanLayerPath,
  diffEntries,
  layerChanges,
  removeAll,
  textToModel,
} from './layer.js';

export const MODEL_OVERLAY2 = '/var/lib/strata/overlay2';

export class ModelSnapshotter implements Snapshotter {
  constructor(
    /** The model host's process (init): snapshots live in its filesystem. */
    private readonly host: Process,
    private readonly codec: LayerCodec,
    /** Called after every change to the snapshots (the backend saves its state then). */
    private readonly changed: () => void = () => {},
  ) {
    host.mkdirp(`${MODEL_OVERLAY2}/l`);
  }

  private dir(id: string): string {
    if (!/^[a-f0-9]{64}(-init)?$/.test(id)) throw new StrataError(`invalid snapshot id '${id}'`);
    return `${MODEL_OVERLAY2}/${id}`;
  }

  private has(path: string): boolean {
    return this.host.exists(path);
  }

  private read(path: string): string | null {
    try {
      return this.host.readFile(path);
    } catch (err) {
      if (isModelError(err)) return null;
      throw err;
    }
  }

  async exists(id: string): Promise<boolean> {
    return this.has(`${this.dir(id)}/committed`);
  }

  async paths(id: string): Promise<SnapshotPaths> {
    const dir = this.dir(id);
    const link = this.read(`${dir}/link`);
    if (link === null) throw new StrataError(`snapshot ${id} does not exist in the kernel model`);
    const lower = this.read(`${dir}/lower`) ?? '';
    const lowerLinks = lower ? lower.split(':').map((l) => `${MODEL_OVERLAY2}/${l}`) : [];
    return {
      id,
      diffDir: `${dir}/diff`,
      workDir: this.has(`${dir}/work`) ? `${dir}/work` : null,
      mergedDir: this.has(`${dir}/merged`) ? `${dir}/merged` : null,
      link,
      lowerLinks,
      // l/<SHORT> -> ../<id>/diff
      lowerDirs: lowerLinks.map((l) => `${MODEL_OVERLAY2}/${this.host.readlink(l).replace(/^\.\.\//, '')}`),
    };
  }

  private async lowerFor(parent: string | null): Promise<string[]> {
    if (parent === null) return [];
    const dir = this.dir(parent);
    const link = this.read(`${dir}/link`);
    if (link === null) throw new StrataError(`parent snapshot ${parent} does not exist in the kernel model`);
    const lower = this.read(`${dir}/lower`) ?? '';
    return [`l/${link}`, ...(lower ? lower.split(':') : [])];
  }

  /** Make <id>.partial with its diff (filled by `fill`), link and lower files, then move it into place. */
  private async build(
    id: string,
    parent: string | null,
    opts: { work: boolean; merged: boolean; committed: boolean },
    fill: (diff: string) => Promise<void> | void,
  ): Promise<SnapshotPaths> {
    const h = this.host;
    const final = this.dir(id);
    const tmp = `${final}.partial`;
    const lower = await this.lowerFor(parent);
    removeAll(h, tmp);
    try {
      h.mkdirp(`${tmp}/diff`, { mode: 0o755 });
      if (opts.work) h.mkdir(`${tmp}/work`, { mode: 0o700 });
      if (opts.merged) h.mkdir(`${tmp}/merged`, { mode: 0o755 });
      await fill(`${tmp}/diff`);
      const link = shortLinkName();
      h.writeFile(`${tmp}/link`, link);
      if (lower.length > 0) h.writeFile(`${tmp}/lower`, lower.join(':'));
      if (opts.committed) h.writeFile(`${tmp}/committed`, '');
      removeAll(h, final);
      h.rename(tmp, final);
      h.symlink(`../${id}/diff`, `${MODEL_OVERLAY2}/l/${link}`);
    } catch (err) {
      removeAll(h, tmp);
      throw err;
    }
    this.changed();
    return this.paths(id);
  }

  async apply(id: string, parent: string | null, layer: LayerStream): Promise<SnapshotPaths> {
    if (await this.exists(id)) return this.paths(id);
    const opts = { work: parent !== null, merged: false, committed: true };
    return this.build(id, parent, opts, async (diff) => {
      for await (const e of this.codec.read(layer)) applyLayerEntry(this.host, diff, e);
    });
  }

  async prepare(
    id: string,
    parent: string | null,
    opts: { entries?: SnapshotEntry[]; commit?: boolean } = {},
  ): Promise<SnapshotPaths> {
    const commit = opts.commit ?? false;
    const flags = { work: parent !== null, merged: !commit, committed: commit };
    return this.build(id, parent, flags, (diff) => {
      const h = this.host;
      for (const e of opts.entries ?? []) {
        const rel = cleanLayerPath(e.path);
        const at = `${diff}/${rel}`;
        if (rel.includes('/')) h.mkdirp(at.slice(0, at.lastIndexOf('/')), { mode: 0o755 });
        if (e.kind === 'dir') {
          h.mkdirp(at, { mode: e.mode });
          h.chmod(at, e.mode);
        } else if (e.kind === 'file') h.writeFile(at, textToModel(e.content), { mode: e.mode });
        else h.symlink(e.target, at);
      }
    });
  }

  exportDiff(id: string): LayerStream {
    const entries = async (): Promise<ReturnType<typeof diffEntries>> =>
      diffEntries(this.host, (await this.paths(id)).diffDir);
    const codec = this.codec;
    return (async function* () {
      yield* codec.write(await entries());
    })();
  }

  async changes(id: string): Promise<Change[]> {
    const own = await this.paths(id);
    return layerChanges(this.host, own.diffDir, own.lowerDirs);
  }

  async remove(id: string): Promise<void> {
    const dir = this.dir(id);
    const h = this.host;
    if (h.exists(`${dir}/merged`)) {
      try {
        h.umount(`${dir}/merged`, { detach: true });
      } catch (err) {
        if (!isModelError(err, 'EINVAL')) throw err; // EINVAL: nothing mounted there
      }
    }
    const link = this.read(`${dir}/link`);
    if (link !== null && h.exists(`${MODEL_OVERLAY2}/l/${link}`)) h.unlink(`${MODEL_OVERLAY2}/l/${link}`);
    removeAll(h, dir);
    removeAll(h, `${dir}.partial`);
    this.changed();
  }
}
