// Manifests over the wire: GET with every media type we understand in Accept (OCI manifest and
// index, Docker schema 2 manifest and manifest list), verified against the digest asked for or
// the one the registry states; PUT with the manifest's own media type.
import { createHash } from 'node:crypto';
import type { RegistryClient } from './client.js';
import { RegistryError } from './client.js';
import { discard, readBody } from './http.js';
import { DigestMismatchError, type Digest } from '../store/digest.js';
import { INDEX_TYPES, MANIFEST_TYPES, MediaType } from '../oci/mediatypes.js';
import type { Descriptor, ImageIndex, ImageManifest, Platform } from '../oci/types.js';
import { StrataError } from '../errors.js';

export const ACCEPT = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
].join(', ');

const MAX_MANIFEST = 4 * 1024 * 1024;

export interface FetchedManifest {
  bytes: Buffer;
  digest: Digest;
  mediaType: string;
}

const sha256 = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function getManifest(
  c: RegistryClient,
  repo: string,
  reference: string,
): Promise<FetchedManifest> {
  let res;
  try {
    // bulk: over plain HTTP without node:http, whose loading and first request a pull's start
    // would wait for (the blobs go that way too).
    res = await c.request('GET', `/v2/${repo}/manifests/${reference}`, {
      ok: [200],
      bulk: true,
      headers: { Accept: ACCEPT },
    });
  } catch (e) {
    if (e instanceof RegistryError && e.status === 404)
      throw new RegistryError(
        `manifest for ${c.endpoint.domain}/${repo}:${reference} not found: manifest unknown`,
        404,
      );
    throw e;
  }
  const bytes = await readBody(res, MAX_MANIFEST);
  const digest = sha256(bytes);
  const expected = reference.startsWith('sha256:') ? reference : res.headers['docker-content-digest'];
  if (typeof expected === 'string' && expected.startsWith('sha256:') && expected !== digest)
    throw new DigestMismatchError(`manifest ${c.endpoint.domain}/${repo}:${reference}`, expected, digest);
  let mediaType: string | undefined;
  try {
    mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
  } catch (e) {
    throw new StrataError(`manifest ${repo}:${reference} is not valid JSON: ${(e as Error).message}`);
  }
  mediaType ??= String(res.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim();
  return { bytes, digest, mediaType };
}

export async function putManifest(
  c: RegistryClient,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<Digest> {
  const res = await c.request('PUT', `/v2/${repo}/manifests/${reference}`, {
    ok: [201],
    body: bytes,
    headers: { 'Content-Type': mediaType },
  });
  await discard(res);
  const digest = sha256(bytes);
  const said = res.headers['docker-content-digest'];
  if (typeof said === 'string' && said !== digest)
    throw new DigestMismatchError(`the registry stored manifest ${repo}:${reference}`, digest, said);
  return digest;
}

export function isIndex(m: FetchedManifest): boolean {
  return INDEX_TYPES.has(m.mediaType);
}

export function isImageManifest(m: FetchedManifest): boolean {
  return MANIFEST_TYPES.has(m.mediaType);
}

export function parseManifest(m: FetchedManifest): ImageManifest {
  const v = JSON.parse(m.bytes.toString('utf8')) as ImageManifest;
  if (v.schemaVersion !== 2 || !v.config || !Array.isArray(v.layers))
    throw new StrataError(`manifest ${m.digest} is not an image manifest (schema 2)`);
  return v;
}

/** The entry of an index for this platform (linux/amd64 on x86-64), as docker chooses. */
export function choosePlatform(m: FetchedManifest, want: Platform): Descriptor {
  const index = JSON.parse(m.bytes.toString('utf8')) as ImageIndex;
  const candidates = (index.manifests ?? []).filter(
    (d) =>
      MANIFEST_TYPES.has(d.mediaType) &&
      d.platform?.os === want.os &&
      d.platform.architecture === want.architecture &&
      (want.variant === undefined || d.platform.variant === undefined || d.platform.variant === want.variant),
  );
  const chosen = candidates[0];
  if (!chosen)
    throw new StrataError(
      `no matching manifest for ${want.os}/${want.architecture} in the manifest list entries`,
    );
  return chosen;
}
