// Image operations over the store and a backend: commit, history, tag, rmi and prune, with Docker's
// reference counting (a layer shared by another image or used by a container stays).
import type { Engine } from './engine.js';
import type { ContainerRecord } from '../container/types.js';
import type { ImageConfig, HistoryEntry } from '../oci/types.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Digest } from '../store/digest.js';
import { chainIds } from '../store/digest.js';
import { addImage, addLayer, storeBlobStream } from './image-writer.js';
import { familiarString, parseReference } from '../reference.js';

export interface CommitOptions {
  reference: string | null;
  message: string;
  author: string;
  /** Dockerfile instructions applied to the config (docker commit -c), already parsed. */
  configure?: (config: NonNullable<ImageConfig['config']>) => void;
}

function now(): string {
  return new Date().toISOString();
}

/** The container's rw layer becomes a new image layer on top of its image (docker commit). */
export async function commitContainer(
  engine: Engine,
  rec: ContainerRecord,
  opts: CommitOptions,
): Promise<Digest> {
  const image = engine.store.images.getImage(rec.Image);
  const layers = engine.store.images.layersOf(image);
  const { digest: diffId, size } = await storeBlobStream(
    engine.store,
    engine.backend.snapshots.exportDiff(rec.Strata.layerId),
  );
  const parentChain = layers.length > 0 ? layers[layers.length - 1]!.chainId : null;
  await addLayer(engine.store, engine.backend, diffId, parentChain, size, { unpack: false });
  const c = rec.Config;
  const cfg: NonNullable<ImageConfig['config']> = {
    ...(image.config.config ?? {}),
    Env: c.Env ?? [],
    Cmd: c.Cmd ?? null,
    Entrypoint: c.Entrypoint ?? null,
    WorkingDir: c.WorkingDir ?? '',
    Labels: c.Labels ?? {},
    ...(c.User ? { User: c.User } : {}),
  };
  opts.configure?.(cfg);
  const history: HistoryEntry = { created: now(), created_by: [rec.Path, ...rec.Args].join(' ') };
  if (opts.author) history.author = opts.author;
  if (opts.message) history.comment = opts.message;
  const config: ImageConfig = {
    ...image.config,
    created: history.created!,
    ...(opts.author ? { author: opts.author } : {}),
    config: cfg,
    rootfs: { type: 'layers', diff_ids: [...image.config.rootfs.diff_ids, diffId] },
    history: [...(image.config.history ?? []), history],
  };
  return addImage(engine.store, config, opts.reference ? [opts.reference] : []);
}

export interface HistoryRow {
  id: string;
  created: string;
  createdBy: string;
  size: number;
  comment: string;
}

/** docker history: newest first; only the top entry carries the image ID, the rest are <missing>. */
export function imageHistory(engine: Engine, id: Digest): HistoryRow[] {
  const image = engine.store.images.getImage(id);
  const layers = engine.store.images.layersOf(image);
  const entries = image.config.history ?? image.config.rootfs.diff_ids.map(() => ({}) as HistoryEntry);
  let next = 0;
  const rows = entries.map((h): HistoryRow => {
    const size = h.empty_layer ? 0 : (layers[next++]?.size ?? 0);
    return {
      id: '<missing>',
      created: h.created ?? '',
      createdBy: h.created_by ?? '',
      size,
      comment: h.comment ?? '',
    };
  });
  rows.reverse();
  if (rows[0]) rows[0].id = id;
  return rows;
}

export function tagImage(engine: Engine, source: string, target: string): void {
  const id = engine.store.images.resolve(source);
  if (!id) throw new NotFoundError(`No such image: ${source}`);
  engine.store.images.tag(target, id);
}

function containersUsing(engine: Engine, id: string): ContainerRecord[] {
  return engine.store.containers.list().filter((c) => c.Image === id);
}

/** Layers (by ChainID) still referenced by any image other than `except`. */
function chainsInUse(engine: Engine, except: string): Set<string> {
  const used = new Set<string>();
  for (const other of engine.store.images.listImageIds()) {
    if (other === except) continue;
    for (const c of chainIds(engine.store.images.getImage(other).config.rootfs.diff_ids as Digest[]))
      used.add(c);
  }
  return used;
}

/** Delete an untagged image and the layers nothing else uses. Returns what was deleted. */
async function deleteImage(engine: Engine, id: Digest): Promise<string[]> {
  const image = engine.store.images.getImage(id);
  const used = chainsInUse(engine, id);
  const deleted = [`Deleted: ${id}`];
  engine.store.images.removeImage(id);
  const diffIdsInUse = new Set<string>();
  for (const other of engine.store.images.listImageIds()) {
    for (const d of engine.store.images.getImage(other).config.rootfs.diff_ids) diffIdsInUse.add(d);
  }
  const chains = chainIds(image.config.rootfs.diff_ids as Digest[]);
  for (const chain of [...chains].reverse()) {
    if (used.has(chain)) continue;
    const layer = engine.store.images.getLayer(chain);
    if (!layer) continue;
    await engine.backend.snapshots.remove(layer.cacheId);
    engine.store.images.removeLayer(chain);
    if (!diffIdsInUse.has(layer.diffId)) engine.store.blobs.remove(layer.diffId);
    deleted.push(`Deleted: ${chain}`);
  }
  if (!engine.store.images.listImageIds().some((other) => other === id)) engine.store.blobs.remove(id);
  return deleted;
}

/** docker rmi: untag; delete the image once no tag and no container refers to it. */
export async function removeImage(engine: Engine, ref: string, force: boolean): Promise<string[]> {
  const id = engine.store.images.resolve(ref);
  if (!id) throw new NotFoundError(`No such image: ${ref}`);
  const out: string[] = [];
  const byName = !ref.replace(/^sha256:/, '').match(/^[a-f0-9]{12,64}$/);
  const tags = engine.store.images.tagsOf(id);
  const users = containersUsing(engine, id);
  if (byName && tags.length > 1) {
    engine.store.images.untag(ref);
    return [`Untagged: ${familiarString(parseReference(ref))}`];
  }
  if (users.length > 0 && !force) {
    const c = users[0]!;
    throw new ConflictError(
      byName
        ? `conflict: unable to remove repository reference "${ref}" (must force) - container ${c.Id.slice(0, 12)} is using its referenced image ${id.slice(7, 19)}`
        : `conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is being used by stopped container ${c.Id.slice(0, 12)}`,
      1,
    );
  }
  if (!byName && tags.length > 1 && !force) {
    throw new ConflictError(
      `conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`,
      1,
    );
  }
  for (const t of byName ? [ref] : tags) {
    engine.store.images.untag(t);
    out.push(`Untagged: ${familiarString(parseReference(t))}`);
  }
  if (users.length > 0) return out; // forced: the name goes, the image stays for its containers
  out.push(...(await deleteImage(engine, id)));
  return out;
}

/** docker image prune: dangling images (or with `all`, every image) no container uses. */
export async function pruneImages(engine: Engine, all: boolean): Promise<string[]> {
  const out: string[] = [];
  for (const id of engine.store.images.listImageIds()) {
    if (!engine.store.images.hasImage(id)) continue;
    if (containersUsing(engine, id).length > 0) continue;
    const tags = engine.store.images.tagsOf(id);
    if (tags.length > 0 && !all) continue;
    for (const t of tags) {
      engine.store.images.untag(t);
      out.push(`untagged: ${t}`);
    }
    out.push(...(await deleteImage(engine, id)).map((l) => l.replace('Deleted:', 'deleted:')));
  }
  return out;
}
