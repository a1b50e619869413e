// Exchanging images with the rest of the container world: `save` writes one tar that is both an
// OCI image layout and a `docker save` archive (as docker 25+ does), `load` reads either (and
// plain OCI layout directories, archive-load.ts), `import` turns a root filesystem tar into a
// one-layer image. docs/formats.md, "Archives".
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Engine } from './engine.js';
import { addImage, addLayer } from './image-writer.js';
import { goArch } from './archive-plan.js';
import { decompressed, hashToFile, type ByteSource } from './archive-source.js';
import { counted, silentProgress, type ProgressReporter } from './progress.js';
import { DEFAULT_PATH } from './run-options.js';
import { StrataError } from '../errors.js';
import type { Digest } from '../store/digest.js';
import { hexOf } from '../store/digest.js';
import { Annotation, MediaType } from '../oci/mediatypes.js';
import type { Descriptor, ImageConfig } from '../oci/types.js';
import { indexBlob, jsonBlob, layerDescriptor, manifestBlob, ociLayout } from '../oci/builder.js';
import { TarError, TarWriter, readTar, type TarInput } from '../tar/index.js';
import { familiarString, parseReference } from '../reference.js';

export { loadArchive, type LoadedImage } from './archive-load.js';

/** One entry of docker's manifest.json. */
export interface DockerManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

interface SavedImage {
  id: Digest;
  configBytes: Buffer;
  created: string | undefined;
  layers: Array<{ digest: Digest; size: number }>;
  /** Familiar names (busybox:latest); empty when saved by ID. */
  names: string[];
}

const blobName = (digest: string): string => `blobs/sha256/${hexOf(digest)}`;

/** True when what the user typed selects an image by ID rather than by name. */
function isIdReference(ref: string, id: Digest): boolean {
  const hex = ref.replace(/^sha256:/, '');
  return /^[a-f0-9]{12,64}$/.test(hex) && id.slice(7).startsWith(hex);
}

async function collect(engine: Engine, refs: string[]): Promise<SavedImage[]> {
  const byId = new Map<Digest, SavedImage>();
  for (const ref of refs) {
    const image = await engine.resolveImage(ref);
    const layers = engine.store.images
      .layersOf(image)
      .map((l) => ({ digest: l.diffId, size: engine.store.blobs.size(l.diffId) }));
    const saved = byId.get(image.id) ?? {
      id: image.id,
      configBytes: image.configBytes,
      created: image.config.created,
      layers,
      names: [],
    };
    byId.set(image.id, saved);
    const parsed = isIdReference(ref, image.id) ? null : parseReference(ref);
    // By ID or by digest: no tag to record, as docker saves those untagged.
    if (parsed !== null && parsed.digest === null) {
      const name = familiarString(parsed);
      if (!saved.names.includes(name)) saved.names.push(name);
    }
  }
  return [...byId.values()];
}

/** The tar's entries: blobs (layers streamed from the verified store), index.json, manifest.json, oci-layout. */
function entries(engine: Engine, images: SavedImage[], progress: ProgressReporter): TarInput[] {
  const blobs = new Map<string, TarInput>();
  const addBlob = (digest: string, body: Buffer | (() => AsyncIterable<Uint8Array>), size: number) => {
    if (!blobs.has(digest))
      blobs.set(digest, { header: { path: blobName(digest), type: 'file', mode: 0o644, size }, body });
  };
  const index: Descriptor[] = [];
  const dockerManifest: DockerManifestEntry[] = [];
  for (const image of images) {
    addBlob(image.id, image.configBytes, image.configBytes.length);
    for (const l of image.layers) {
      // Lazy: the layer is read (and its digest checked by the blob store) only as it is written.
      addBlob(
        l.digest,
        () =>
          (async function* () {
            const task = progress.begin('Saving layer', l.digest, l.size);
            yield* counted(engine.store.blobs.stream(l.digest), task);
            task.done();
          })(),
        l.size,
      );
    }
    const manifest = manifestBlob({
      config: { mediaType: MediaType.ociConfig, digest: image.id, size: image.configBytes.length },
      layers: image.layers.map((l) => layerDescriptor(l.digest, l.size)),
    });
    addBlob(manifest.digest, manifest.bytes, manifest.size);
    const names = image.names.length > 0 ? image.names : [null];
    for (const name of names) {
      const d: Descriptor = { ...manifest.descriptor };
      if (name !== null) {
        const ref = parseReference(name);
        // containerd's full name for docker/containerd; the familiar name as ref.name, which is what
        // skopeo and podman match `oci-archive:FILE:busybox:latest` against.
        d.annotations = {
          [Annotation.containerdImageName]: `${ref.domain}/${ref.path}:${ref.tag ?? 'latest'}`,
          [Annotation.refName]: name,
        };
      }
      index.push(d);
    }
    dockerManifest.push({
      Config: blobName(image.id),
      RepoTags: image.names.length > 0 ? image.names : null,
      Layers: image.layers.map((l) => blobName(l.digest)),
    });
  }
  const small = (name: string, bytes: Buffer): TarInput => ({
    header: { path: name, type: 'file', mode: 0o644 },
    body: bytes,
  });
  return [
    { header: { path: 'blobs/', type: 'dir', mode: 0o755 } },
    { header: { path: 'blobs/sha256/', type: 'dir', mode: 0o755 } },
    ...blobs.values(),
    small('index.json', indexBlob(index).bytes),
    small('manifest.json', Buffer.from(JSON.stringify(dockerManifest))),
    small('oci-layout', jsonBlob(ociLayout(), MediaType.ociLayoutHeader).bytes),
  ];
}

/**
 * Writes the images to `out` (a path, written to a temporary name and renamed when complete, or a
 * stream such as stdout) as one tar: an OCI image layout plus docker's manifest.json over the same
 * blobs. Layers are uncompressed, streamed from the store; the same images give the same bytes.
 */
export async function saveImages(
  engine: Engine,
  refs: string[],
  out: string | Writable,
  progress: ProgressReporter = silentProgress,
): Promise<void> {
  if (refs.length === 0) throw new StrataError('save: no image given');
  const images = await collect(engine, refs);
  // Reproducible: every entry gets the newest image's creation time (0 when none has one).
  const mtime = Math.max(
    0,
    ...images.map((i) => (i.created ? Math.floor(Date.parse(i.created) / 1000) : 0)).filter(Number.isFinite),
  );
  const tar = new TarWriter({ deterministic: true, mtime }).write(entries(engine, images, progress));
  if (typeof out !== 'string') {
    await pipeline(Readable.from(tar), out, { end: false });
    return;
  }
  const dir = path.dirname(path.resolve(out));
  if (!fs.existsSync(dir)) throw new StrataError(`invalid output path: directory "${dir}" does not exist`);
  const existing = fs.statSync(out, { throwIfNoEntry: false });
  if (existing !== undefined && !existing.isFile()) {
    // A device or FIFO (-o /dev/null, a named pipe): nothing to replace atomically, write to it.
    await pipeline(Readable.from(tar), fs.createWriteStream(out));
    return;
  }
  const tmp = path.join(
    dir,
    `.${path.basename(out)}.strata-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  try {
    await pipeline(Readable.from(tar), fs.createWriteStream(tmp, { mode: 0o644 }));
    fs.renameSync(tmp, out);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export interface ImportOptions {
  /** The history comment (default "Imported from SOURCE"). */
  message?: string;
  /** How to name the input in the history ("-" for stdin). */
  source?: string;
  progress?: ProgressReporter;
  /** Changes to the container config (docker import -c: CMD, ENV, ...), applied after the defaults. */
  configure?: (config: NonNullable<ImageConfig['config']>) => void;
}

/** Checks that the staged layer is a readable tar before it becomes an image (docker import's check too). */
async function assertTar(file: string, label: string): Promise<void> {
  try {
    for await (const entry of readTar(fs.createReadStream(file, { highWaterMark: 1 << 20 }))) void entry;
  } catch (e) {
    if (e instanceof TarError)
      throw new StrataError(`import ${label}: not a valid tar archive: ${e.message}`);
    throw e;
  }
}

/**
 * `strata import`: a one-layer image from a root filesystem tar (a file, or a stream such as
 * stdin; gzip is detected). The layer is the uncompressed tar exactly as given.
 */
export async function importRootfs(
  engine: Engine,
  input: string | ByteSource,
  ref: string | null,
  opts: ImportOptions = {},
): Promise<Digest> {
  const store = engine.store;
  if (ref !== null) parseReference(ref); // a bad name fails before any work
  const containerConfig: NonNullable<ImageConfig['config']> = { Env: [`PATH=${DEFAULT_PATH}`] };
  opts.configure?.(containerConfig); // bad changes fail before any work too
  const label = opts.source ?? (typeof input === 'string' ? input : '-');
  const progress = opts.progress ?? silentProgress;
  let raw: ByteSource;
  let total: number | null = null;
  if (typeof input === 'string') {
    try {
      total = fs.statSync(input).size;
    } catch {
      throw new StrataError(`open ${input}: no such file or directory`);
    }
    raw = fs.createReadStream(input, { highWaterMark: 1 << 20 });
  } else {
    raw = input;
  }
  const staged = path.join(store.layout.tmp, `import-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const task = progress.begin('Importing', label, total);
    const { digest: diffId, size } = await hashToFile(
      await decompressed(counted(raw, task), `import ${label}`),
      staged,
    );
    task.done();
    if (size === 0) throw new StrataError(`import ${label}: the input is empty`);
    await assertTar(staged, label);
    const had = store.blobs.has(diffId);
    store.blobs.adopt(staged, diffId);
    try {
      await addLayer(store, engine.backend, diffId, null, size);
    } catch (e) {
      if (!had) store.blobs.remove(diffId);
      throw e;
    }
    const created = new Date().toISOString();
    const config: ImageConfig = {
      architecture: goArch(),
      os: 'linux',
      created,
      config: containerConfig,
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, comment: opts.message || `Imported from ${label}` }],
    };
    return addImage(store, config, ref !== null ? [ref] : []);
  } finally {
    fs.rmSync(staged, { force: true });
  }
}
