// Phase 1 of `strata load` (archive-load.ts): read a layout's entry points (index.json, or docker's
// manifest.json) and every manifest and config they lead to, verifying each of those small blobs
// against its digest as it is read, into a plan: per image, its config bytes and where its layers
// are. Layers themselves are verified in phase 2, by archive-load.ts.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { Compression, LayoutSource } from './archive-source.js';
import { StrataError } from '../errors.js';
import { type Digest, DigestMismatchError, hexOf, isDigest } from '../store/digest.js';
import {
  Annotation,
  CONFIG_TYPES,
  INDEX_TYPES,
  LAYER_TYPES,
  MANIFEST_TYPES,
  layerCompression,
} from '../oci/mediatypes.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest } from '../oci/types.js';
import { familiarString, parseReference } from '../reference.js';

/** JSON documents (index, manifests, configs) are read whole; anything bigger is not one. */
const MAX_JSON_BYTES = 16 * 1024 * 1024;

export interface LayerPlan {
  /** Where the layer is in the layout, for messages. */
  name: string;
  file: string;
  /** The digest of the bytes as stored, when the layout names one (OCI; docker's blobs/ paths). */
  blobDigest: Digest | null;
  blobSize: number | null;
  /** 'auto': sniff the magic bytes (docker save's layer.tar files carry no media type). */
  compression: Compression | 'auto';
}

export interface ImagePlan {
  configName: string;
  configBytes: Buffer;
  config: ImageConfig;
  id: Digest;
  layers: LayerPlan[];
  names: string[];
}

export function fail(source: LayoutSource, message: string): StrataError {
  return new StrataError(`${source.description}: ${message}`);
}

/** A small file of the layout, verified against a digest (and size) when one is expected. */
function readVerified(
  source: LayoutSource,
  rel: string,
  expected: Digest | null,
  size: number | null,
  what: string,
): Buffer {
  const file = source.file(rel);
  if (file === null) throw fail(source, `${what} ${rel} is missing`);
  if (fs.statSync(file).size > MAX_JSON_BYTES)
    throw fail(source, `${what} ${rel} is larger than ${MAX_JSON_BYTES} bytes`);
  const bytes = fs.readFileSync(file);
  const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (expected !== null && actual !== expected)
    throw new DigestMismatchError(`${source.description}: ${what} ${rel}`, expected, actual);
  if (size !== null && bytes.length !== size)
    throw fail(source, `${what} ${rel} has ${bytes.length} bytes, its descriptor says ${size}`);
  return bytes;
}

function parseJson<T>(source: LayoutSource, bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (e) {
    throw fail(source, `${what} is not valid JSON: ${(e as Error).message}`);
  }
}

function blobPath(source: LayoutSource, digest: string): string {
  if (!isDigest(digest))
    throw fail(
      source,
      `unsupported or malformed digest ${JSON.stringify(digest)} (only sha256 is supported)`,
    );
  return `blobs/sha256/${hexOf(digest)}`;
}

/** The shape checks the rest of strata relies on (run reads config.config, layersOf reads rootfs). */
function checkConfig(source: LayoutSource, config: ImageConfig, what: string): void {
  const ok =
    typeof config === 'object' &&
    config !== null &&
    typeof config.architecture === 'string' &&
    typeof config.os === 'string' &&
    config.rootfs?.type === 'layers' &&
    Array.isArray(config.rootfs.diff_ids) &&
    config.rootfs.diff_ids.every((d) => typeof d === 'string' && isDigest(d));
  if (!ok)
    throw fail(
      source,
      `${what} is not an image config (architecture, os and rootfs.diff_ids of sha256 digests are required)`,
    );
}

/** A name from an archive, in the familiar form repositories.json keeps; null if it is not one. */
function familiar(name: string): string | null {
  try {
    return familiarString(parseReference(name));
  } catch {
    return null;
  }
}

/** Docker's GOARCH for Node's process.arch. */
export function goArch(arch: string = process.arch): string {
  return (
    (
      {
        x64: 'amd64',
        ia32: '386',
        arm64: 'arm64',
        arm: 'arm',
        ppc64: 'ppc64le',
        s390x: 's390x',
        riscv64: 'riscv64',
      } as Record<string, string>
    )[arch] ?? arch
  );
}

/** Names an index entry carries: containerd's full name first, else a ref.name that is a reference. */
function namesOf(d: Descriptor): string[] {
  const full = d.annotations?.[Annotation.containerdImageName];
  if (full !== undefined) {
    const f = familiar(full);
    if (f !== null) return [f];
  }
  const ref = d.annotations?.[Annotation.refName];
  // A bare tag ("latest", as umoci and docker write it) names no repository: the image stays unnamed.
  if (ref !== undefined && (ref.includes(':') || ref.includes('/'))) {
    const f = familiar(ref);
    if (f !== null) return [f];
  }
  return [];
}

class Planner {
  readonly images = new Map<Digest, ImagePlan>();
  private readonly seenManifests = new Set<string>();

  constructor(private readonly source: LayoutSource) {}

  private addImage(configName: string, configBytes: Buffer, layers: LayerPlan[], names: string[]): void {
    const id = `sha256:${createHash('sha256').update(configBytes).digest('hex')}` as Digest;
    const existing = this.images.get(id);
    if (existing) {
      for (const n of names) if (!existing.names.includes(n)) existing.names.push(n);
      return;
    }
    const config = parseJson<ImageConfig>(this.source, configBytes, `config ${configName}`);
    checkConfig(this.source, config, `config ${configName}`);
    if (config.rootfs.diff_ids.length !== layers.length) {
      throw fail(
        this.source,
        `config ${configName} lists ${config.rootfs.diff_ids.length} diff IDs but its manifest has ${layers.length} layers`,
      );
    }
    this.images.set(id, { configName, configBytes, config, id, layers, names: [...new Set(names)] });
  }

  /** OCI: index.json -> (nested indexes ->) manifests -> config + layers. */
  planIndex(indexBytes: Buffer, what: string, names: string[] | null): void {
    const index = parseJson<ImageIndex>(this.source, indexBytes, what);
    if (index.schemaVersion !== 2 || !Array.isArray(index.manifests))
      throw fail(this.source, `${what} is not an image index`);
    const platform = { os: 'linux', architecture: goArch() };
    let picked = 0;
    for (const d of index.manifests) {
      const here = names ?? namesOf(d);
      // Attestations and other platforms (multi-platform archives hold blobs for one or a few).
      if (d.platform && (d.platform.os !== platform.os || d.platform.architecture !== platform.architecture))
        continue;
      if (INDEX_TYPES.has(d.mediaType)) {
        const rel = blobPath(this.source, d.digest);
        this.planIndex(
          readVerified(this.source, rel, d.digest as Digest, d.size, 'index'),
          `index ${d.digest}`,
          here,
        );
      } else if (MANIFEST_TYPES.has(d.mediaType)) {
        this.planManifest(d, here);
      } else {
        continue; // artifacts: not images
      }
      picked++;
    }
    if (picked === 0)
      throw fail(this.source, `${what} has no image manifest for ${platform.os}/${platform.architecture}`);
  }

  private planManifest(d: Descriptor, names: string[]): void {
    const rel = blobPath(this.source, d.digest);
    const bytes = readVerified(this.source, rel, d.digest as Digest, d.size, 'manifest');
    if (this.seenManifests.has(d.digest)) {
      // The same image under another name: verified already, only the names are new.
      const m = parseJson<ImageManifest>(this.source, bytes, `manifest ${d.digest}`);
      const existing = this.images.get(m.config.digest as Digest);
      if (existing) for (const n of names) if (!existing.names.includes(n)) existing.names.push(n);
      return;
    }
    this.seenManifests.add(d.digest);
    const m = parseJson<ImageManifest>(this.source, bytes, `manifest ${d.digest}`);
    if (m.schemaVersion !== 2 || typeof m.config !== 'object' || !Array.isArray(m.layers))
      throw fail(this.source, `manifest ${d.digest} is not an image manifest`);
    if (!CONFIG_TYPES.has(m.config.mediaType))
      throw fail(
        this.source,
        `manifest ${d.digest}: config media type ${m.config.mediaType} is not an image config (an artifact?)`,
      );
    const layers = m.layers.map((l): LayerPlan => {
      if (!LAYER_TYPES.has(l.mediaType))
        throw fail(this.source, `manifest ${d.digest}: unsupported layer media type ${l.mediaType}`);
      const name = blobPath(this.source, l.digest);
      const file = this.source.file(name);
      if (file === null) {
        const foreign = l.urls?.length ? ` (a foreign layer, to be fetched from ${l.urls[0]})` : '';
        throw fail(this.source, `layer ${l.digest} is missing${foreign}`);
      }
      return {
        name,
        file,
        blobDigest: l.digest as Digest,
        blobSize: l.size,
        // A layer typed as plain tar is still sniffed, as docker's loader does: a tar never starts
        // with gzip's magic bytes, and some tools label gzipped layers as plain tar.
        compression: layerCompression(l.mediaType) === 'none' ? 'auto' : layerCompression(l.mediaType),
      };
    });
    const configName = blobPath(this.source, m.config.digest);
    const configBytes = readVerified(
      this.source,
      configName,
      m.config.digest as Digest,
      m.config.size,
      'config',
    );
    this.addImage(configName, configBytes, layers, names);
  }

  /** docker save: manifest.json lists config and layer files by path. */
  planDockerManifest(bytes: Buffer, namesOnly: boolean): void {
    const entries = parseJson<unknown>(this.source, bytes, 'manifest.json');
    if (!Array.isArray(entries)) throw fail(this.source, 'manifest.json is not a list of images');
    for (const raw of entries as Array<{ Config?: unknown; RepoTags?: unknown; Layers?: unknown }>) {
      if (
        typeof raw?.Config !== 'string' ||
        !Array.isArray(raw.Layers) ||
        !raw.Layers.every((l) => typeof l === 'string')
      ) {
        throw fail(this.source, 'manifest.json: an entry lacks Config or Layers');
      }
      const tags = Array.isArray(raw.RepoTags)
        ? raw.RepoTags.filter((t): t is string => typeof t === 'string')
        : [];
      const names = tags.map((t) => familiar(t)).filter((t): t is string => t !== null);
      // Blobs named by digest are verified against it; legacy `<hex>.json` configs are too.
      const named = (p: string): Digest | null => {
        const m = /^(?:blobs\/sha256\/([a-f0-9]{64})|([a-f0-9]{64})\.json)$/.exec(p);
        return m ? (`sha256:${m[1] ?? m[2]}` as Digest) : null;
      };
      const configBytes = readVerified(this.source, raw.Config, named(raw.Config), null, 'config');
      if (namesOnly) {
        // index.json planned the images; manifest.json only adds its RepoTags.
        const id = `sha256:${createHash('sha256').update(configBytes).digest('hex')}` as Digest;
        const existing = this.images.get(id);
        if (existing) for (const n of names) if (!existing.names.includes(n)) existing.names.push(n);
        continue;
      }
      const layers = (raw.Layers as string[]).map((rel): LayerPlan => {
        const file = this.source.file(rel);
        if (file === null) throw fail(this.source, `layer ${rel} is missing`);
        return {
          name: rel,
          file,
          blobDigest: /^blobs\/sha256\//.test(rel) ? named(rel) : null,
          blobSize: null,
          compression: 'auto',
        };
      });
      this.addImage(raw.Config, configBytes, layers, names);
    }
  }
}

/** Reads the layout's entry points and plans every image in it (phase 1). */
export function plan(source: LayoutSource): ImagePlan[] {
  const planner = new Planner(source);
  const hasIndex = source.file('index.json') !== null;
  const hasManifest = source.file('manifest.json') !== null;
  if (hasIndex) {
    const layoutFile = source.file('oci-layout');
    if (layoutFile !== null) {
      const layout = parseJson<{ imageLayoutVersion?: unknown }>(
        source,
        fs.readFileSync(layoutFile),
        'oci-layout',
      );
      if (layout.imageLayoutVersion !== '1.0.0')
        throw fail(source, `unsupported image layout version ${JSON.stringify(layout.imageLayoutVersion)}`);
    }
    planner.planIndex(readVerified(source, 'index.json', null, null, 'index'), 'index.json', null);
    if (hasManifest)
      planner.planDockerManifest(readVerified(source, 'manifest.json', null, null, 'manifest'), true);
  } else if (hasManifest) {
    planner.planDockerManifest(readVerified(source, 'manifest.json', null, null, 'manifest'), false);
  } else {
    throw fail(
      source,
      'neither index.json (an OCI image layout) nor manifest.json (a docker save archive) found',
    );
  }
  return [...planner.images.values()];
}
