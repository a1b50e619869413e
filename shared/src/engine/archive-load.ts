// `strata load`: images from an OCI image layout (tar or directory) or a `docker save` archive.
//
// Three phases, so that a bad archive leaves nothing behind:
//   1. plan:   read index.json (or manifest.json) and every manifest and config they lead to;
//   2. verify: hash every blob as it is read (configs, manifests, layers as stored) and every
//              layer's uncompressed bytes (its diff ID, checked against the config's
//              rootfs.diff_ids); verified layers are staged, uncompressed, under the store's tmp dir;
//   3. commit: only then move the layers into the blob store, unpack them on the backend, record
//              the configs byte for byte (the image ID stays the archive's config digest), tag.
// A failure during commit (a layer the backend cannot unpack) undoes what the commit added.
import fs from 'node:fs';
import path from 'node:path';
import type { Backend } from '../backend.js';
import type { Engine } from './engine.js';
import { addLayer } from './image-writer.js';
import { fail, plan, type ImagePlan, type LayerPlan } from './archive-plan.js';
import { counted, silentProgress, type ProgressReporter } from './progress.js';
import {
  decompressed,
  hashStream,
  hashToFile,
  openLayout,
  sniffCompression,
  type ByteSource,
  type LayoutSource,
} from './archive-source.js';
import { StrataError } from '../errors.js';
import { type Digest, DigestMismatchError, chainIds, hexOf } from '../store/digest.js';
import { removeTree, withLockAsync } from '../store/fsutil.js';
import type { Store } from '../store/index.js';
import { MediaType } from '../oci/mediatypes.js';
import type { ImageConfig } from '../oci/types.js';
import { buildManifest, layerDescriptor } from '../oci/builder.js';
import { canonicalBytes } from '../oci/canonical.js';

export interface LoadedImage {
  id: Digest;
  /** Familiar names (busybox:latest) the image was tagged with. */
  tags: string[];
  /** Names that pointed to another image before this load: [name, previous image ID]. */
  replaced: Array<[string, Digest]>;
}

/** A layer whose diff ID was verified, staged uncompressed in a file under the store's tmp dir. */
export interface VerifiedLayer {
  diffId: Digest;
  file: string;
  size: number;
}

/** What the commit phase needs of an image: its config (bytes and parsed) and its names. */
export type VerifiedImage = Pick<ImagePlan, 'id' | 'configBytes' | 'config' | 'names'>;

let staged = 0;

/** Verifies one layer (phase 2): its blob digest and size if known, and its diff ID; stages it uncompressed. */
async function verifyLayer(
  source: LayoutSource,
  layer: LayerPlan,
  diffId: Digest,
  stage: string,
  progress: ProgressReporter,
): Promise<VerifiedLayer> {
  let compression = layer.compression;
  if (compression === 'auto') {
    const fd = fs.openSync(layer.file, 'r');
    const head = Buffer.alloc(4);
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    compression = sniffCompression(head);
  }
  const what = `${source.description}: layer ${layer.name}`;
  const checkBlob = (actual: { digest: Digest; size: number }) => {
    if (layer.blobDigest !== null && actual.digest !== layer.blobDigest)
      throw new DigestMismatchError(what, layer.blobDigest, actual.digest);
    if (layer.blobSize !== null && actual.size !== layer.blobSize)
      throw fail(
        source,
        `layer ${layer.name} has ${actual.size} bytes, its descriptor says ${layer.blobSize}`,
      );
  };
  const checkDiff = (actual: Digest) => {
    if (actual !== diffId) throw new DigestMismatchError(`${what} (uncompressed, diff ID)`, diffId, actual);
  };
  const task = progress.begin('Loading layer', layer.blobDigest ?? diffId, fs.statSync(layer.file).size);
  const raw = (): ByteSource => counted(fs.createReadStream(layer.file, { highWaterMark: 1 << 20 }), task);
  // Unique: two copies of one layer (not linked) in a layout are each verified and staged.
  const out = path.join(stage, `layer-${hexOf(diffId).slice(0, 12)}-${++staged}`);

  if (compression === 'none') {
    // The stored bytes are the layer: one pass checks the blob digest and the diff ID together.
    const actual = source.owned ? await hashStream(raw()) : await hashToFile(raw(), out);
    checkBlob(actual);
    checkDiff(actual.digest);
    task.done();
    return { diffId, file: source.owned ? layer.file : out, size: actual.size };
  }
  if (compression === 'zstd')
    throw fail(source, `layer ${layer.name} is zstd-compressed, which strata cannot decompress`);
  // Compressed: the blob digest first, so that a corrupted blob is reported as such rather than
  // as whatever error gzip happens to hit; then the uncompressed bytes against the diff ID.
  checkBlob(await hashStream(raw()));
  task.done();
  let actual: { digest: Digest; size: number };
  try {
    actual = await hashToFile(
      await decompressed(fs.createReadStream(layer.file, { highWaterMark: 1 << 20 }), what),
      out,
    );
  } catch (e) {
    if (e instanceof StrataError) throw e;
    throw fail(source, `layer ${layer.name}: cannot decompress: ${(e as Error).message}`);
  }
  checkDiff(actual.digest);
  return { diffId, file: out, size: actual.size };
}

/** Undo log for the commit phase: what this load added to the store, removed again on failure. */
interface Added {
  blobs: Digest[];
  layers: Array<{ chainId: Digest; cacheId: string }>;
  images: Digest[];
}

async function rollback(store: Store, backend: Backend | null, added: Added): Promise<void> {
  for (const id of added.images) store.images.removeImage(id);
  for (const l of added.layers.reverse()) {
    store.images.removeLayer(l.chainId);
    // Without a backend nothing was unpacked: there is no snapshot to remove.
    await backend?.snapshots.remove(l.cacheId);
  }
  for (const b of added.blobs) store.blobs.remove(b);
}

/** Records a config byte for byte (its digest is the image ID) plus the manifest save will write. */
export function registerImage(store: Store, configBytes: Buffer, config: ImageConfig): Digest {
  const id = store.images.putImage(configBytes);
  store.blobs.put(configBytes);
  const manifest = buildManifest({
    config: { mediaType: MediaType.ociConfig, digest: id, size: configBytes.length },
    layers: config.rootfs.diff_ids.map((d) => layerDescriptor(d, store.blobs.size(d))),
  });
  store.images.setImageMeta(id, 'manifest', store.blobs.put(canonicalBytes(manifest)));
  return id;
}

async function commit(
  store: Store,
  backend: Backend | null,
  images: VerifiedImage[],
  verified: Map<Digest, VerifiedLayer>,
  added: Added,
  unpack: boolean,
): Promise<LoadedImage[]> {
  const out: LoadedImage[] = [];
  for (const image of images) {
    const diffIds = image.config.rootfs.diff_ids as Digest[];
    const chains = chainIds(diffIds);
    let parent: Digest | null = null;
    for (const [i, diffId] of diffIds.entries()) {
      const v = verified.get(diffId);
      if (!store.blobs.has(diffId)) {
        if (v === undefined) throw new StrataError(`layer ${diffId} is neither verified nor in the store`);
        // Every verified file is ours, under the store's tmp dir: moved, not copied.
        if (fs.existsSync(v.file)) {
          store.blobs.adopt(v.file, diffId);
          added.blobs.push(diffId);
        }
      }
      const before = store.images.getLayer(chains[i]!);
      const size = v?.size ?? store.blobs.size(diffId);
      const chainId = await addLayer(store, backend, diffId, parent, size, { unpack });
      const after = store.images.getLayer(chainId);
      if (after && after.cacheId !== before?.cacheId) added.layers.push({ chainId, cacheId: after.cacheId });
      parent = chainId;
    }
    const existed = store.images.hasImage(image.id);
    const id = registerImage(store, image.configBytes, image.config);
    if (!existed) added.images.push(id);
    out.push({ id, tags: image.names, replaced: [] });
  }
  // Names last: an image is complete before any name points to it.
  for (const loaded of out) {
    for (const name of loaded.tags) {
      const old = store.images.resolve(name);
      if (old !== null && old !== loaded.id) loaded.replaced.push([name, old]);
      store.images.tag(name, loaded.id);
    }
  }
  return out;
}

/**
 * Loads every image of an OCI layout (tar, gzipped tar or directory) or `docker save` archive.
 * Every digest is verified before anything is stored; a mismatch names the blob and stores nothing.
 */
export async function loadArchive(
  engine: Engine,
  input: string | ByteSource,
  progress: ProgressReporter = silentProgress,
): Promise<LoadedImage[]> {
  const store = engine.store;
  const stage = fs.mkdtempSync(path.join(store.layout.tmp, 'load-'));
  try {
    const source = await openLayout(input, stage);
    const images = plan(source);
    const verified = new Map<Digest, VerifiedLayer>();
    const byFile = new Map<string, VerifiedLayer>();
    for (const image of images) {
      for (const [i, layer] of image.layers.entries()) {
        const diffId = image.config.rootfs.diff_ids[i] as Digest;
        const key = `${layer.file}\0${diffId}`;
        const v = byFile.get(key) ?? (await verifyLayer(source, layer, diffId, stage, progress));
        byFile.set(key, v);
        verified.set(diffId, v);
      }
    }
    return await commitImages(engine.store, engine.backend, images, verified);
  } finally {
    removeTree(stage);
  }
}

/**
 * Phase 3 on its own (pull verifies its layers while downloading): moves verified layers into the
 * blob store, registers them (unpacked now, or on first use with `unpack: false`), records the
 * configs, tags; a failure undoes what it added. Images whose layers the store has need no entry
 * in `verified` for them. `backend` may be null only with `unpack: false` (nothing to unpack).
 */
export async function commitImages(
  store: Store,
  backend: Backend | null,
  images: VerifiedImage[],
  verified: Map<Digest, VerifiedLayer>,
  opts: { unpack?: boolean } = {},
): Promise<LoadedImage[]> {
  const added: Added = { blobs: [], layers: [], images: [] };
  // Loads run one at a time per store: two unpacking the same new layer would race on layerdb.
  return await withLockAsync(store.layout.lock('load'), async () => {
    try {
      return await commit(store, backend, images, verified, added, opts.unpack ?? true);
    } catch (e) {
      await rollback(store, backend, added);
      throw e;
    }
  });
}
