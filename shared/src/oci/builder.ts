// Builders for image configs, manifests, indexes and the oci-layout file, serialised canonically.

import type { Buffer } from 'node:buffer';
import { sha256Digest } from '../tar/digest.js';
import { canonicalBytes } from './canonical.js';
import { MediaType, type ImageFlavor } from './mediatypes.js';
import type {
  ContainerConfig,
  Descriptor,
  Digest,
  HistoryEntry,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  OciLayout,
  Platform,
} from './types.js';

const SHA256 = /^sha256:[a-f0-9]{64}$/;
/** RFC 3339 date-time, as the spec's `created` fields require. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** A JSON document ready to store as a blob: its value, canonical bytes, digest and descriptor. */
export interface JsonBlob<T> {
  value: T;
  bytes: Buffer;
  digest: Digest;
  size: number;
  descriptor: Descriptor;
}

export function assertDigest(d: string, what: string): void {
  if (!SHA256.test(d)) throw new TypeError(`${what}: not a sha256 digest: ${JSON.stringify(d)}`);
}

function assertTime(t: string | undefined, what: string): void {
  if (t !== undefined && !RFC3339.test(t))
    throw new TypeError(`${what}: not an RFC 3339 time: ${JSON.stringify(t)}`);
}

/** Serialises `value` canonically and describes it. */
export function jsonBlob<T>(value: T, mediaType: string, extra: Partial<Descriptor> = {}): JsonBlob<T> {
  const bytes = canonicalBytes(value);
  const digest = sha256Digest(bytes);
  return {
    value,
    bytes,
    digest,
    size: bytes.length,
    descriptor: { mediaType, digest, size: bytes.length, ...extra },
  };
}

/** A descriptor for stored bytes. */
export function descriptorOf(
  mediaType: string,
  bytes: Uint8Array,
  extra: Partial<Descriptor> = {},
): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length, ...extra };
}

export interface ImageConfigInput {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  /** RFC 3339; omitted when not given (so that builds can be reproducible). */
  created?: string;
  author?: string;
  config?: ContainerConfig;
  /** Uncompressed layer digests, bottom first. */
  diffIds: Digest[];
  /** One entry per step; entries without empty_layer must match diffIds one to one. */
  history?: HistoryEntry[];
}

/** Builds and checks an image config (fields in spec form; empty optional fields dropped). */
export function buildImageConfig(input: ImageConfigInput): ImageConfig {
  input.diffIds.forEach((d, i) => assertDigest(d, `rootfs.diff_ids[${i}]`));
  assertTime(input.created, 'created');
  if (input.history) {
    input.history.forEach((h, i) => assertTime(h.created, `history[${i}].created`));
    const layered = input.history.filter((h) => h.empty_layer !== true).length;
    if (layered !== input.diffIds.length) {
      throw new TypeError(
        `history has ${layered} non-empty layer entries but rootfs has ${input.diffIds.length} diff_ids`,
      );
    }
  }
  const cfg: ImageConfig = {
    architecture: input.architecture,
    os: input.os,
    rootfs: { type: 'layers', diff_ids: [...input.diffIds] },
  };
  if (input.variant) cfg.variant = input.variant;
  if (input['os.version']) cfg['os.version'] = input['os.version'];
  if (input['os.features']?.length) cfg['os.features'] = [...input['os.features']];
  if (input.created) cfg.created = input.created;
  if (input.author) cfg.author = input.author;
  if (input.config) cfg.config = input.config;
  if (input.history) cfg.history = input.history.map((h) => ({ ...h }));
  return cfg;
}

/** The config blob; its digest is the Docker image ID. */
export function imageConfigBlob(
  input: ImageConfigInput | ImageConfig,
  flavor: ImageFlavor = 'oci',
): JsonBlob<ImageConfig> {
  const cfg = 'diffIds' in input ? buildImageConfig(input) : input;
  return jsonBlob(cfg, flavor === 'oci' ? MediaType.ociConfig : MediaType.dockerConfig);
}

/** Docker's image ID: the sha256 digest of the config JSON bytes exactly as stored. */
export function imageId(configBytes: Uint8Array): Digest {
  return sha256Digest(configBytes);
}

/** A layer descriptor from its (compressed, as stored) digest and size. */
export function layerDescriptor(
  digest: Digest,
  size: number,
  opts: {
    flavor?: ImageFlavor;
    compression?: 'none' | 'gzip' | 'zstd';
    annotations?: Record<string, string>;
  } = {},
): Descriptor {
  assertDigest(digest, 'layer digest');
  const flavor = opts.flavor ?? 'oci';
  const compression = opts.compression ?? 'none';
  let mediaType: string;
  if (flavor === 'docker') {
    if (compression === 'zstd') throw new TypeError('Docker schema 2 has no zstd layer media type');
    mediaType = compression === 'gzip' ? MediaType.dockerLayerGzip : MediaType.dockerLayer;
  } else {
    mediaType =
      compression === 'gzip'
        ? MediaType.ociLayerGzip
        : compression === 'zstd'
          ? MediaType.ociLayerZstd
          : MediaType.ociLayer;
  }
  const d: Descriptor = { mediaType, digest, size };
  if (opts.annotations && Object.keys(opts.annotations).length > 0) d.annotations = { ...opts.annotations };
  return d;
}

export interface ManifestInput {
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
  flavor?: ImageFlavor;
  subject?: Descriptor;
}

/** An image manifest (mediaType always set: required by Docker, recommended by OCI). */
export function buildManifest(input: ManifestInput): ImageManifest {
  assertDigest(input.config.digest, 'config digest');
  input.layers.forEach((l, i) => assertDigest(l.digest, `layers[${i}].digest`));
  const m: ImageManifest = {
    schemaVersion: 2,
    mediaType: (input.flavor ?? 'oci') === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest,
    config: input.config,
    layers: input.layers,
  };
  if (input.subject) m.subject = input.subject;
  if (input.annotations && Object.keys(input.annotations).length > 0)
    m.annotations = { ...input.annotations };
  return m;
}

export function manifestBlob(input: ManifestInput, platform?: Platform): JsonBlob<ImageManifest> {
  const m = buildManifest(input);
  return jsonBlob(m, m.mediaType!, platform ? { platform } : {});
}

export function buildIndex(
  manifests: Descriptor[],
  opts: { annotations?: Record<string, string>; flavor?: ImageFlavor } = {},
): ImageIndex {
  manifests.forEach((m, i) => assertDigest(m.digest, `manifests[${i}].digest`));
  const idx: ImageIndex = {
    schemaVersion: 2,
    mediaType: (opts.flavor ?? 'oci') === 'oci' ? MediaType.ociIndex : MediaType.dockerManifestList,
    manifests,
  };
  if (opts.annotations && Object.keys(opts.annotations).length > 0) idx.annotations = { ...opts.annotations };
  return idx;
}

export function indexBlob(
  manifests: Descriptor[],
  opts: { annotations?: Record<string, string>; flavor?: ImageFlavor } = {},
): JsonBlob<ImageIndex> {
  const idx = buildIndex(manifests, opts);
  return jsonBlob(idx, idx.mediaType!);
}

/** The content of an image layout's `oci-layout` file. */
export function ociLayout(): OciLayout {
  return { imageLayoutVersion: '1.0.0' };
}
