// strata images: list the store's images (docker images).
import type { Engine } from '../../../shared/src/engine/engine.js';
import type { Digest } from '../../../shared/src/store/digest.js';
import type { Command } from '../context.js';
import { ago, humanSize, table } from '../format.js';
import { bool } from '../flags.js';

function imageSize(engine: Engine, id: Digest): number {
  const image = engine.store.images.getImage(id);
  return engine.store.images.layersOf(image).reduce((n, l) => n + l.size, 0);
}

/** Docker's image inspect shape. */
export async function imageInspect(engine: Engine, id: Digest): Promise<Record<string, unknown>> {
  const image = engine.store.images.getImage(id);
  // Layers from commit and build are unpacked on first use; inspect shows their directories.
  const top = await engine.materialise(image);
  const paths = top ? await engine.backend.snapshots.paths(top) : null;
  return {
    Id: id,
    RepoTags: engine.store.images.tagsOf(id),
    RepoDigests: [],
    Created: image.config.created ?? '',
    Author: image.config.author ?? '',
    Config: image.config.config ?? {},
    Architecture: image.config.architecture,
    Os: image.config.os,
    Size: imageSize(engine, id),
    GraphDriver: {
      Name: 'overlay2',
      Data: paths
        ? {
            ...(paths.lowerDirs.length ? { LowerDir: paths.lowerDirs.join(':') } : {}),
            MergedDir: paths.diffDir.replace(/diff$/, 'merged'),
            UpperDir: paths.diffDir,
            WorkDir: paths.diffDir.replace(/diff$/, 'work'),
          }
        : {},
    },
    RootFS: { Type: 'layers', Layers: image.config.rootfs.diff_ids },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}

export const imagesCommand: Command = {
  name: 'images',
  usage: 'images [OPTIONS]',
  description: 'List images',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      help: 'Show all images (default hides intermediate build images)',
    },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only show image IDs' },
    { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
  ],
  async run(ctx, p) {
    const engine = await ctx.engine();
    const tags = engine.store.images.tags();
    const rows: string[][] = [];
    const tagged = new Set(tags.values());
    const short = (id: string) => (bool(p, 'no-trunc') ? id : id.slice(7, 19));
    for (const [ref, id] of [...tags].sort()) {
      const colon = ref.lastIndexOf(':');
      const image = engine.store.images.getImage(id);
      rows.push([
        ref.slice(0, colon),
        ref.slice(colon + 1),
        short(id),
        image.config.created ? ago(image.config.created) : '',
        humanSize(imageSize(engine, id)),
      ]);
    }
    for (const id of engine.store.images.listImageIds()) {
      if (tagged.has(id)) continue;
      if (!bool(p, 'all') && engine.store.images.getImageMeta(id, 'intermediate') !== null) continue;
      const image = engine.store.images.getImage(id);
      rows.push([
        '<none>',
        '<none>',
        short(id),
        image.config.created ? ago(image.config.created) : '',
        humanSize(imageSize(engine, id)),
      ]);
    }
    if (bool(p, 'quiet')) ctx.out([...new Set(rows.map((r) => r[2]))].map((r) => `${r}\n`).join(''));
    else ctx.out(table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], rows));
    return 0;
  },
};
