// `strata pull`: manifest (an index chooses linux/<this arch>), config and layers downloaded into
// a private OCI layout under the store's tmp dir, each blob verified against its digest as it
// streams in; then the layout goes through `load` (archive-load.ts): layers checked against the
// config's diff IDs, registered, tagged; a failure anywhere stores nothing.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import { loadArchive } from '../engine/archive-load.js';
import { goArch } from '../engine/archive-plan.js';
import { StrataError } from '../errors.js';
import { trace } from '../trace.js';
import { type Digest, hexOf, isDigest } from '../store/digest.js';
import { removeTree } from '../store/fsutil.js';
import { Annotation, MediaType, layerCompression } from '../oci/mediatypes.js';
import type { Descriptor, ImageConfig } from '../oci/types.js';
import { familiarString, parseReference } from '../reference.js';
import { RegistryClient } from './client.js';
import { authFilePath, getCredentials } from './credentials.js';
import { endpointFor } from './host.js';
import { downloadBlob } from './blobs.js';
import { choosePlatform, getManifest, isImageManifest, isIndex, parseManifest } from './manifests.js';
import { remember } from './metadata.js';
import { inParallel, layerBoard } from './progress.js';
import type { TransferOptions } from './push.js';

export interface PullResult {
  id: Digest;
  /** The manifest's digest (what `Digest:` prints). */
  digest: Digest;
  /** False when the name already pointed at this image. */
  changed: boolean;
  name: string;
}

function blobFile(layout: string, digest: string): string {
  if (!isDigest(digest)) throw new StrataError(`invalid digest in manifest: ${digest}`);
  return path.join(layout, 'blobs', 'sha256', hexOf(digest));
}

export async function pullImage(engine: Engine, name: string, opts: TransferOptions): Promise<PullResult> {
  const ref = parseReference(name);
  const store = engine.store;
  const endpoint = endpointFor(ref.domain, opts.insecure);
  const client = new RegistryClient(endpoint, {
    credentials: getCredentials(authFilePath(opts.root), ref.domain),
    scopes: [`repository:${ref.path}:pull`],
  });
  const repo = ref.path;
  const reference = ref.digest ?? ref.tag ?? 'latest';
  if (ref.digest === null && !/:[\w][\w.-]*$/.test(name.replace(/^.*\//, '')))
    opts.out.write('Using default tag: latest\n');
  opts.out.write(`${reference}: Pulling from ${repo}\n`);

  let fetched = await getManifest(client, repo, reference);
  const top = fetched.digest;
  if (isIndex(fetched)) {
    const chosen = choosePlatform(fetched, { os: 'linux', architecture: goArch() });
    fetched = await getManifest(client, repo, chosen.digest);
  }
  if (!isImageManifest(fetched))
    throw new StrataError(`${name}: unsupported manifest media type ${fetched.mediaType}`);
  const manifest = parseManifest(fetched);

  const layout = fs.mkdtempSync(path.join(store.layout.tmp, 'pull-'));
  try {
    fs.mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
    const configFile = blobFile(layout, manifest.config.digest);
    await downloadBlob(client, repo, manifest.config, configFile);
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as ImageConfig;
    const diffIds = (config.rootfs?.diff_ids ?? []) as Digest[];
    if (diffIds.length !== manifest.layers.length)
      throw new StrataError(
        `${name}: the manifest has ${manifest.layers.length} layers, the config ${diffIds.length} diff IDs`,
      );

    const board = layerBoard(opts.out, { quiet: opts.quiet });
    const lines = manifest.layers.map((l) => board.line(l.digest));
    const downloaded: Array<[Digest, Digest]> = [];
    const layers = await inParallel(
      manifest.layers,
      opts.concurrency ?? 3,
      async (l, i): Promise<Descriptor> => {
        const line = lines[i]!;
        const diffId = diffIds[i]!;
        if (layerCompression(l.mediaType) === 'zstd')
          throw new StrataError(`layer ${l.digest} is zstd-compressed, which strata cannot decompress`);
        if (isDigest(diffId) && store.blobs.has(diffId)) {
          // The store has this layer: hand load the verified local copy (a hard link, same file system).
          const local = blobFile(layout, diffId);
          if (!fs.existsSync(local)) fs.linkSync(store.blobs.path(diffId), local);
          line.status('Already exists');
          return { mediaType: MediaType.ociLayer, digest: diffId, size: store.blobs.size(diffId) };
        }
        line.status('Pulling fs layer');
        const task = line.task('Downloading', l.size);
        await downloadBlob(client, repo, l, blobFile(layout, l.digest), (n) => task.advance(n));
        task.done();
        line.status('Download complete');
        downloaded.push([diffId, l.digest as Digest]);
        return { mediaType: l.mediaType, digest: l.digest, size: l.size };
      },
    );

    trace('registry: layers downloaded and verified');
    // Our own manifest over the blobs we hold (local layers uncompressed, new ones as downloaded);
    // the config keeps its exact bytes, so the image ID is the registry's config digest.
    const localManifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: manifest.config, layers }),
    );
    const mDigest = `sha256:${createHash('sha256').update(localManifest).digest('hex')}`;
    fs.writeFileSync(blobFile(layout, mDigest), localManifest);
    const full = `${ref.domain}/${ref.path}:${ref.tag ?? 'latest'}`;
    const annotations = ref.digest === null ? { [Annotation.containerdImageName]: full } : undefined;
    fs.writeFileSync(
      path.join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          { mediaType: MediaType.ociManifest, digest: mDigest, size: localManifest.length, annotations },
        ],
      }),
    );
    fs.writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');

    const shown = familiarString(ref);
    const before = ref.digest === null ? store.images.resolve(shown) : null;
    const [loaded] = await loadArchive(engine, layout);
    if (!loaded) throw new StrataError(`${name}: nothing was loaded`);
    trace('registry: loaded (diff IDs verified, layers unpacked)');
    for (const [diffId, digest] of downloaded) remember(store, diffId, digest, `${ref.domain}/${repo}`);
    for (const [i, l] of manifest.layers.entries())
      if (downloaded.some(([, d]) => d === l.digest)) lines[i]!.status('Pull complete');
    opts.out.write(`Digest: ${top}\n`);
    const changed = before !== loaded.id || ref.digest !== null;
    opts.out.write(
      changed
        ? `Status: Downloaded newer image for ${shown}\n`
        : `Status: Image is up to date for ${shown}\n`,
    );
    opts.out.write(`${ref.digest === null ? full : `${ref.domain}/${ref.path}@${ref.digest}`}\n`);
    return { id: loaded.id, digest: top, changed, name: shown };
  } finally {
    removeTree(layout);
  }
}
