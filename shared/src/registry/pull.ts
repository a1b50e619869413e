// `strata pull`: manifest (an index chooses linux/<this arch>), config, then the layers 3 at a time,
// each in one streaming pass (layer-fetch.ts): digest verified, gunzipped, diff ID verified against
// the config, written once, uncompressed, into a private dir under the store's tmp dir. Then the
// commit phase of `load` (archive-load.ts) moves them into the blob store and registers them to be
// unpacked on first use; a failure anywhere stores nothing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Store } from '../store/index.js';
import { commitImages, type VerifiedLayer } from '../engine/archive-load.js';
import { goArch } from '../engine/archive-plan.js';
import { StrataError } from '../errors.js';
import { trace } from '../trace.js';
import { type Digest, DigestMismatchError, isDigest } from '../store/digest.js';
import { removeTree } from '../store/fsutil.js';
import { layerCompression } from '../oci/mediatypes.js';
import type { ImageConfig } from '../oci/types.js';
import { familiarString, parseReference } from '../reference.js';
import { RegistryClient } from './client.js';
import { authFilePath, getCredentials } from './credentials.js';
import { endpointFor } from './host.js';
import { readBlob } from './blobs.js';
import { fetchLayer } from './layer-fetch.js';
import { LayerThread } from './layer-thread.js';
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

function parseConfig(bytes: Buffer, digest: string): ImageConfig {
  let config: ImageConfig;
  try {
    config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch (e) {
    throw new StrataError(`image config ${digest} is not valid JSON: ${(e as Error).message}`);
  }
  const diffIds: unknown = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string' && isDigest(d)))
    throw new StrataError(`image config ${digest}: rootfs.diff_ids is not a list of sha256 digests`);
  return config;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * This pull's private dir under the store's tmp dir (named by pid). Leftovers of a pull that was
 * killed (its process gone) are removed first: a killed pull never touched the store proper.
 */
function stagingDir(tmp: string): string {
  for (const entry of fs.readdirSync(tmp)) {
    const m = /^pull-(\d+)-/.exec(entry);
    if (m && !alive(Number(m[1]))) removeTree(path.join(tmp, entry));
  }
  return fs.mkdtempSync(path.join(tmp, `pull-${process.pid}-`));
}

/**
 * Whether the layer work is split over two threads (layer-thread.ts). It pays when a core is free:
 * on a machine whose cores are busy with other work the two threads wait for each other to be
 * scheduled, and the pull took longer than on one thread (bench/registry at load 8 to 14 on 2
 * CPUs: 1.20 s against 1.00). So by default only while the 1-minute load average is under 2 per
 * CPU, and for layers of THREAD_MIN_LAYER or more. STRATA_PULL_THREAD=1 sends every layer through
 * the thread, =0 none. Null: no thread at all; else which layers (by size) go through it.
 */
function layerThreadPolicy(): ((size: number) => boolean) | null {
  const forced = process.env.STRATA_PULL_THREAD;
  if (forced === '0') return null;
  if (forced === '1') return () => true;
  if ((os.loadavg()[0] ?? 0) >= 2 * os.availableParallelism()) return null;
  return (size) => size >= THREAD_MIN_LAYER;
}

/**
 * By default a layer smaller than this stays on the main thread: it would wait for the worker's
 * start-up (about 40 ms) for little to share (a 2 MB busybox pull took 12 ms longer through it).
 */
const THREAD_MIN_LAYER = 8 * 1024 * 1024;

/**
 * A pull needs the store only: its layers are recorded without unpacking (unpacked on first use by
 * the backend that runs them), so no backend is loaded; its load would take the main thread from
 * the transfers, which hash and gunzip on it.
 */
export async function pullImage(store: Store, name: string, opts: TransferOptions): Promise<PullResult> {
  // The layer thread starts once the manifest request is on its way (making a Worker takes this
  // thread 3 to 5 ms): its start-up overlaps the manifest and config requests.
  let thread: LayerThread | undefined;
  const policy = layerThreadPolicy();
  const starting = policy ? setImmediate(() => (thread = new LayerThread())) : undefined;
  try {
    return await pull(store, name, opts, (size) => (policy?.(size) ? thread : undefined));
  } finally {
    clearImmediate(starting);
    thread?.close();
  }
}

async function pull(
  store: Store,
  name: string,
  opts: TransferOptions,
  /** The thread for a layer of `size` bytes, or none. */
  layerThread: (size: number) => LayerThread | undefined,
): Promise<PullResult> {
  const ref = parseReference(name);
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

  trace('registry: pull started');
  let fetched = await getManifest(client, repo, reference);
  const top = fetched.digest;
  if (isIndex(fetched)) {
    const chosen = choosePlatform(fetched, { os: 'linux', architecture: goArch() });
    fetched = await getManifest(client, repo, chosen.digest);
  }
  if (!isImageManifest(fetched))
    throw new StrataError(`${name}: unsupported manifest media type ${fetched.mediaType}`);
  const manifest = parseManifest(fetched);
  trace('registry: manifest fetched');

  const configBytes = await readBlob(client, repo, manifest.config);
  const config = parseConfig(configBytes, manifest.config.digest);
  const diffIds = config.rootfs.diff_ids as Digest[];
  if (diffIds.length !== manifest.layers.length)
    throw new StrataError(
      `${name}: the manifest has ${manifest.layers.length} layers, the config ${diffIds.length} diff IDs`,
    );
  trace('registry: config fetched');

  const stage = stagingDir(store.layout.tmp);
  try {
    const board = layerBoard(opts.out, { quiet: opts.quiet });
    const lines = manifest.layers.map((l) => board.line(l.digest));
    const verified = new Map<Digest, VerifiedLayer>();
    const downloaded: Array<[Digest, Digest]> = [];
    // Diff IDs being fetched: a layer listed twice is downloaded once.
    const claimed = new Set<Digest>();
    await inParallel(manifest.layers, opts.concurrency ?? 3, async (l, i): Promise<void> => {
      const line = lines[i]!;
      const diffId = diffIds[i]!;
      const compression = layerCompression(l.mediaType);
      if (compression === 'zstd')
        throw new StrataError(`layer ${l.digest} is zstd-compressed, which strata cannot decompress`);
      if (!isDigest(l.digest)) throw new StrataError(`invalid digest in manifest: ${l.digest}`);
      if (store.blobs.has(diffId) || claimed.has(diffId)) {
        line.status('Already exists');
        return;
      }
      claimed.add(diffId);
      line.status('Pulling fs layer');
      const task = line.task('Downloading', l.size);
      const file = path.join(stage, `layer-${i}`);
      const got = await fetchLayer(
        client,
        repo,
        l,
        compression === 'gzip',
        file,
        (n) => task.advance(n),
        layerThread(l.size),
      );
      task.done();
      trace(`registry: layer ${i} done`);
      if (got.diffId !== diffId)
        throw new DigestMismatchError(`layer ${l.digest} (uncompressed, diff ID)`, diffId, got.diffId);
      verified.set(diffId, { diffId, file, size: got.size });
      downloaded.push([diffId, l.digest as Digest]);
      line.status('Download complete');
    });
    trace('registry: layers downloaded, verified (digests and diff IDs) and stored uncompressed');

    const shown = familiarString(ref);
    const before = ref.digest === null ? store.images.resolve(shown) : null;
    const full = `${ref.domain}/${ref.path}:${ref.tag ?? 'latest'}`;
    // Registered as `commit` registers its layers: unpacked on first use (Engine.materialise), as
    // containerd can; the pull itself writes each layer once.
    const [loaded] = await commitImages(
      store,
      null,
      [
        {
          id: manifest.config.digest as Digest,
          configBytes,
          config,
          names: ref.digest === null ? [shown] : [],
        },
      ],
      verified,
      { unpack: false },
    );
    if (!loaded) throw new StrataError(`${name}: nothing was loaded`);
    trace('registry: image recorded (layers unpacked on first use)');
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
    removeTree(stage);
  }
}
