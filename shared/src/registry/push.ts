// `strata push`: an image's layers (gzip-compressed on the way, as docker pushes them), its config
// byte for byte (so the image ID survives the trip) and a Docker schema 2 manifest, 3 layers at a
// time. Layers the registry has are skipped (HEAD), layers another repository of it has are
// mounted (POST ?mount=&from=), both known from what earlier pushes and pulls recorded.
import { Readable } from 'node:stream';
import { createGzip, deflateRawSync, constants as zc } from 'node:zlib';
import type { Store } from '../store/index.js';
import { counted, type ProgressOutput } from '../engine/progress.js';
import { StrataError } from '../errors.js';
import type { LayerRecord } from '../store/images.js';
import type { Digest } from '../store/digest.js';
import { MediaType } from '../oci/mediatypes.js';
import type { Descriptor } from '../oci/types.js';
import { familiarName, familiarString, parseReference } from '../reference.js';
import { RegistryClient } from './client.js';
import { authFilePath, getCredentials } from './credentials.js';
import { endpointFor } from './host.js';
import { blobSize, mountBlob, uploadBytes, uploadStream } from './blobs.js';
import { putManifest } from './manifests.js';
import { storedGzip } from './gzip-stored.js';
import { BufferPool } from './read-pool.js';
import { metadataFor, remember } from './metadata.js';
import { inParallel, layerBoard, type LayerLine } from './progress.js';
import { DEFAULT_RETRY, withRetry } from './http.js';

export interface TransferOptions {
  /** Store root: where auth.json is. */
  root: string;
  /** Registries allowed over plain HTTP besides loopback. */
  insecure?: string[];
  /** Where docker's status lines and the TTY bars go. */
  out: ProgressOutput;
  quiet?: boolean;
  /** Layers moved at once (docker's default is 3 for pulls, 5 for pushes; we use 3 for both). */
  concurrency?: number;
}

export interface PushResult {
  tag: string;
  digest: Digest;
  size: number;
}

/** An explicit gzip level for every layer (STRATA_PUSH_GZIP_LEVEL), or null for the adaptive choice. */
const FORCED_LEVEL =
  process.env.STRATA_PUSH_GZIP_LEVEL === undefined ? null : Number(process.env.STRATA_PUSH_GZIP_LEVEL);
// 256 KiB: enough to tell random or compressed bytes from a tar worth deflating; deflating the
// probe is CPU on the main thread (a 1 MiB probe cost 20 ms per layer).
const PROBE_BYTES = 256 * 1024;

/**
 * The gzip level for a layer whose first bytes are `probe`: docker's default (6), except that a
 * layer deflate cannot shrink (random or already compressed data: the probe saves under 5%) is
 * written as stored blocks (level 0, framed by gzip-stored.ts without copying a byte). Deflating
 * such data costs most of a push's CPU for nothing; the result is still a gzip stream, and the
 * choice depends only on the content, so the same layer always gets the same digest.
 */
function levelFor(probe: Buffer): number {
  if (FORCED_LEVEL !== null) return FORCED_LEVEL;
  if (probe.length === 0) return zc.Z_DEFAULT_COMPRESSION;
  return deflateRawSync(probe, { level: 1 }).length > probe.length * 0.95 ? 0 : zc.Z_DEFAULT_COMPRESSION;
}

async function* gzipped(source: AsyncIterable<Uint8Array>, total: number): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < PROBE_BYTES) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    head.push(Buffer.from(r.value.buffer, r.value.byteOffset, r.value.length));
    headBytes += r.value.length;
  }
  const probe = head.length === 1 ? head[0]! : Buffer.concat(head);
  const replay = async function* () {
    yield probe;
    if (ended) return;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  };
  const level = levelFor(probe.subarray(0, PROBE_BYTES));
  if (level === 0) {
    yield* storedGzip(replay(), total);
    return;
  }
  const input = Readable.from(replay(), { objectMode: false });
  const z = createGzip({ level, chunkSize: 1 << 20 });
  input.on('error', (e) => z.destroy(e));
  input.pipe(z);
  try {
    for await (const c of z) yield c as Buffer;
  } finally {
    input.destroy();
    z.destroy();
  }
}

interface Context {
  store: Store;
  /** Read buffers shared by the layer uploads. */
  pool: BufferPool;
  client: RegistryClient;
  domain: string;
  repo: string;
}

/** Skip, mount or upload one layer; returns its descriptor in the manifest. */
async function pushLayer(ctx: Context, layer: LayerRecord, line: LayerLine): Promise<Descriptor> {
  const { store, pool, client, domain, repo } = ctx;
  const describe = (digest: Digest, size: number): Descriptor => ({
    mediaType: MediaType.dockerLayerGzip,
    digest,
    size,
  });
  for (const known of metadataFor(store, layer.diffId)) {
    if (!known.SourceRepository.startsWith(`${domain}/`)) continue;
    const from = known.SourceRepository.slice(domain.length + 1);
    if (from === repo) {
      const size = await blobSize(client, repo, known.Digest);
      if (size !== null) {
        line.status('Layer already exists');
        return describe(known.Digest, size);
      }
    } else if (await mountBlob(client, repo, known.Digest, from)) {
      const size = await blobSize(client, repo, known.Digest);
      if (size !== null) {
        line.status(`Mounted from ${from}`);
        remember(store, layer.diffId, known.Digest, `${domain}/${repo}`);
        return describe(known.Digest, size);
      }
    }
  }
  const total = store.blobs.size(layer.diffId);
  // A failed upload restarts from the store: the compressed stream cannot be rewound.
  const up = await withRetry(
    () => {
      const task = line.task('Pushing', total);
      const reads = pool.tracker();
      return uploadStream(
        client,
        repo,
        gzipped(counted(store.blobs.stream(layer.diffId, reads.take), task), total),
        { onSent: reads.sent },
      )
        .then((up) => {
          reads.finished();
          return up;
        })
        .finally(() => task.done());
    },
    { ...DEFAULT_RETRY, onRetry: () => line.status('Retrying') },
  );
  remember(store, layer.diffId, up.digest, `${domain}/${repo}`);
  line.status('Pushed');
  return describe(up.digest, up.size);
}

/** Needs the store only: no backend is loaded for a push. */
export async function pushImage(store: Store, name: string, opts: TransferOptions): Promise<PushResult> {
  const ref = parseReference(name);
  if (ref.digest !== null) throw new StrataError(`cannot push a digest reference: ${name}`);
  const tag = ref.tag ?? 'latest';
  const id = store.images.resolve(familiarString(ref));
  if (id === null)
    throw new StrataError(`An image does not exist locally with the tag: ${familiarName(ref)}`);
  const image = store.images.getImage(id);
  const layers = store.images.layersOf(image);
  const endpoint = endpointFor(ref.domain, opts.insecure);
  const client = new RegistryClient(endpoint, {
    credentials: getCredentials(authFilePath(opts.root), ref.domain),
    scopes: [`repository:${ref.path}:pull,push`],
  });
  opts.out.write(`The push refers to repository [${ref.domain}/${ref.path}]\n`);
  await client.ping();
  const ctx: Context = { store, pool: new BufferPool(), client, domain: ref.domain, repo: ref.path };
  const board = layerBoard(opts.out, { quiet: opts.quiet });
  // Docker lists the top layer first.
  const lines = new Map<number, LayerLine>();
  for (let i = layers.length - 1; i >= 0; i--) lines.set(i, board.line(layers[i]!.diffId));
  const descriptors = await inParallel(layers, opts.concurrency ?? 3, (l, i) =>
    pushLayer(ctx, l, lines.get(i)!),
  );

  if ((await blobSize(client, ctx.repo, image.id)) === null)
    await uploadBytes(client, ctx.repo, image.configBytes, image.id);
  // Docker schema 2, as docker push writes it (3-space indentation included): every registry and
  // runtime reads it. The config keeps its bytes, so the pulled image has the same ID.
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, size: image.configBytes.length, digest: image.id },
    layers: descriptors,
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const digest = await putManifest(client, ctx.repo, tag, bytes, MediaType.dockerManifest);
  opts.out.write(`${tag}: digest: ${digest} size: ${bytes.length}\n`);
  return { tag, digest, size: bytes.length };
}
