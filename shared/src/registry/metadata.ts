// What we know about layers on registries, in Docker's place for it
// (image/overlay2/distribution/): v2metadata-by-diffid maps a layer's diff ID to the compressed
// blobs it was pushed or pulled as (and where), diffid-by-digest maps back. Push uses it to skip or
// mount layers without compressing them again; pull to skip layers the store already has.
import fs from 'node:fs';
import path from 'node:path';
import type { Store } from '../store/index.js';
import { atomicWrite, readJsonIfExists, readTextIfExists } from '../store/fsutil.js';
import { type Digest, hexOf, isDigest } from '../store/digest.js';

export interface V2Metadata {
  Digest: Digest;
  /** domain/repository, as docker records SourceRepository. */
  SourceRepository: string;
}

const dir = (store: Store, kind: string): string =>
  path.join(store.layout.imageDir, 'distribution', kind, 'sha256');

export function metadataFor(store: Store, diffId: Digest): V2Metadata[] {
  return readJsonIfExists<V2Metadata[]>(path.join(dir(store, 'v2metadata-by-diffid'), hexOf(diffId))) ?? [];
}

export function diffIdFor(store: Store, digest: string): Digest | null {
  if (!isDigest(digest)) return null;
  const text = readTextIfExists(path.join(dir(store, 'diffid-by-digest'), hexOf(digest)));
  const d = text?.trim() ?? '';
  return isDigest(d) ? d : null;
}

/** Records that `diffId` exists as blob `digest` in `repository`; the newest record first. */
export function remember(store: Store, diffId: Digest, digest: Digest, repository: string): void {
  const byDiff = dir(store, 'v2metadata-by-diffid');
  const byDigest = dir(store, 'diffid-by-digest');
  fs.mkdirSync(byDiff, { recursive: true });
  fs.mkdirSync(byDigest, { recursive: true });
  const entries = metadataFor(store, diffId).filter(
    (e) => !(e.Digest === digest && e.SourceRepository === repository),
  );
  entries.unshift({ Digest: digest, SourceRepository: repository });
  atomicWrite(path.join(byDiff, hexOf(diffId)), JSON.stringify(entries.slice(0, 50)));
  atomicWrite(path.join(byDigest, hexOf(digest)), diffId);
}
