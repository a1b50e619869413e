// Adding images to the store: layer tars become content-addressed blobs plus layerdb entries and
// unpacked snapshots; the config becomes the image ID; a manifest is kept for save/push.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Backend } from '../backend.js';
import type { Store } from '../store/index.js';
import { type Digest, sha256 } from '../store/digest.js';
import type { ImageConfig, ImageManifest } from '../oci/types.js';
import { MediaType } from '../oci/mediatypes.js';
import { canonicalBytes } from '../oci/canonical.js';
import { newId } from '../ids.js';

/** Hash a file as it is moved into the blob store; returns its digest (the layer's diff ID). */
export async function storeBlobFile(store: Store, file: string): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  const digest = `sha256:${hash.digest('hex')}` as Digest;
  const staged = path.join(store.layout.tmp, `blob-${process.pid}-${digest.slice(7, 19)}`);
  fs.copyFileSync(file, staged);
  store.blobs.adopt(staged, digest);
  return { digest, size };
}

/** Write a stream into the blob store in one pass, hashing as it goes. */
export async function storeBlobStream(
  store: Store,
  source: AsyncIterable<Uint8Array>,
): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  const staged = path.join(store.layout.tmp, `blob-${process.pid}-${newId().slice(0, 12)}`);
  const fd = fs.openSync(staged, 'w', 0o644);
  let size = 0;
  try {
    for await (const chunk of source) {
      hash.update(chunk);
      let off = 0;
      while (off < chunk.length) off += fs.writeSync(fd, chunk, off);
      size += chunk.length;
    }
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(staged, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  const digest = `sha256:${hash.digest('hex')}` as Digest;
  store.blobs.adopt(staged, digest);
  return { digest, size };
}

/**
 * Register a layer whose blob is in the store. With `unpack: false` the snapshot is made on first
 * use (Engine.materialise), as containerd unpacks lazily: a commit then costs one tar pass.
 */
export async function addLayer(
  store: Store,
  backend: Backend | null,
  diffId: Digest,
  parent: Digest | null,
  size: number,
  opts: { unpack?: boolean } = {},
): Promise<Digest> {
  const chainId = parent === null ? diffId : sha256(`${parent} ${diffId}`);
  const existing = store.images.getLayer(chainId);
  if (existing && (opts.unpack === false || (await backend?.snapshots.exists(existing.cacheId))))
    return chainId;
  const cacheId = existing?.cacheId ?? newId();
  if (opts.unpack !== false) {
    // Only a record without unpacking (a pull) may come without a backend.
    if (backend === null) throw new Error(`addLayer ${diffId}: unpacking needs a backend`);
    const parentCache = parent === null ? null : store.images.getLayer(parent)!.cacheId;
    await backend.snapshots.apply(cacheId, parentCache, store.blobs.stream(diffId));
  }
  store.images.putLayer({ chainId, diffId, cacheId, parent, size });
  return chainId;
}

export function addImage(store: Store, config: ImageConfig, tags: string[]): Digest {
  const configBytes = canonicalBytes(config);
  const id = store.images.putImage(configBytes);
  store.blobs.put(configBytes);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: id, size: configBytes.length },
    layers: config.rootfs.diff_ids.map((d) => ({
      mediaType: MediaType.ociLayer,
      digest: d,
      size: store.blobs.size(d),
    })),
  };
  const manifestDigest = store.blobs.put(canonicalBytes(manifest));
  store.images.setImageMeta(id, 'manifest', manifestDigest);
  for (const t of tags) store.images.tag(t, id);
  return id;
}
