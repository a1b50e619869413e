// Adding images to the store: layer tars become content-addressed blobs plus layerdb entries and
// unpacked snapshots; the config becomes the image ID; a manifest is kept for save/push.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Backend } from '../backend.js';
import type { Store } from '../store/index.js';
import { type Digest, sha256 } from '../store/digest.js';
import type { ImageConfig, ImageManifest } from '../image/types.js';
import { MEDIA_TYPES } from '../image/types.js';
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

/** Register a layer whose blob is in the store; unpacks it on the backend unless already there. */
export async function addLayer(store: Store, backend: Backend, diffId: Digest, parent: Digest | null, size: number): Promise<Digest> {
  const chainId = parent === null ? diffId : sha256(`${parent} ${diffId}`);
  const existing = store.images.getLayer(chainId);
  if (existing && (await backend.snapshots.exists(existing.cacheId))) return chainId;
  const parentCache = parent === null ? null : store.images.getLayer(parent)!.cacheId;
  const cacheId = newId();
  await backend.snapshots.apply(cacheId, parentCache, store.blobs.stream(diffId));
  store.images.putLayer({ chainId, diffId, cacheId, parent, size });
  return chainId;
}

/** Canonical JSON: keys in the order given by the object; no whitespace (stable digests). */
export function canonicalJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export function addImage(store: Store, config: ImageConfig, tags: string[]): Digest {
  const configBytes = canonicalJson(config);
  const id = store.images.putImage(configBytes);
  store.blobs.put(configBytes);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: id, size: configBytes.length },
    layers: config.rootfs.diff_ids.map((d) => ({ mediaType: MEDIA_TYPES.ociLayer, digest: d, size: store.blobs.size(d) })),
  };
  const manifestDigest = store.blobs.put(canonicalJson(manifest));
  store.images.setImageMeta(id, 'manifest', manifestDigest);
  for (const t of tags) store.images.tag(t, id);
  return id;
}
