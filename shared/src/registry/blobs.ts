// Blob transfers: existence checks (HEAD), cross-repository mounts, uploads (monolithic when the
// blob fits one chunk, chunked PATCHes with Content-Range otherwise) and downloads that verify the
// digest as the bytes stream in and resume with Range after a broken connection.
import { createHash } from 'node:crypto';
import type { RegistryClient } from './client.js';
import { RegistryError } from './client.js';
import {
  DEFAULT_RETRY,
  TransientError,
  backoff,
  discard,
  isTransient,
  withRetry,
  type HttpResponse,
  type RetryPolicy,
} from './http.js';
import { type Digest, DigestMismatchError } from '../store/digest.js';
import { StrataError } from '../errors.js';
import { trace } from '../trace.js';
import type { BufferSource } from './layer-thread.js';

// 4 MiB: the memory an upload holds (one chunk in flight, one being read) is touched fresh once
// and then reused; 8 MiB chunks cost more page faults than the fewer requests saved.
export const DEFAULT_CHUNK_SIZE = Number(process.env.STRATA_REGISTRY_CHUNK_SIZE ?? 4 * 1024 * 1024);

const blobPath = (repo: string, digest: string): string => `/v2/${repo}/blobs/${digest}`;

/** HEAD: the blob's size when the repository has it, null otherwise. */
export async function blobSize(c: RegistryClient, repo: string, digest: string): Promise<number | null> {
  const res = await c.request('HEAD', blobPath(repo, digest), { ok: [200, 404] });
  await discard(res);
  if (res.status !== 200) return null;
  const n = Number(res.headers['content-length']);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** POST ?mount=&from=: true when the registry linked the blob; a 202 (no mount) session is cancelled. */
export async function mountBlob(
  c: RegistryClient,
  repo: string,
  digest: string,
  from: string,
): Promise<boolean> {
  const q = new URLSearchParams({ mount: digest, from });
  const res = await c.request('POST', `/v2/${repo}/blobs/uploads/?${q}`, { ok: [201, 202] });
  await discard(res);
  if (res.status === 201) return true;
  const loc = res.headers.location;
  if (loc)
    await c.request('DELETE', loc, { ok: [204, 404, 405], retry: false }).then(discard, () => undefined);
  return false;
}

function locationOf(c: RegistryClient, res: HttpResponse, what: string): string {
  const loc = res.headers.location;
  if (!loc) throw new RegistryError(`${what}: the registry sent no upload Location`, res.status);
  return c.url(loc).href;
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.href;
}

/** A run of buffers sent as one request body: grouped, never joined (no copy of the bytes). */
interface Parts {
  list: Buffer[];
  length: number;
}

/** The parts from byte `offset` on. */
function partsFrom(parts: Parts, offset: number): Parts {
  const list: Buffer[] = [];
  let skip = offset;
  for (const p of parts.list) {
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    list.push(skip > 0 ? p.subarray(skip) : p);
    skip = 0;
  }
  return { list, length: parts.length - offset };
}

/**
 * Groups a byte stream into runs of exactly `size` bytes (the last one shorter), each marked
 * whether it is the stream's last: the source is read one piece ahead to know, so no whole run
 * has to be held back for that (less memory in flight per upload).
 */
async function* chunks(
  source: AsyncIterable<Uint8Array>,
  size: number,
): AsyncGenerator<Parts & { last: boolean }> {
  const it = source[Symbol.asyncIterator]();
  let list: Buffer[] = [];
  let n = 0;
  let next = await it.next();
  while (!next.done) {
    let p = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    next = await it.next();
    while (n + p.length >= size) {
      const take = size - n;
      list.push(p.subarray(0, take));
      p = p.subarray(take);
      yield { list, length: size, last: p.length === 0 && next.done === true };
      list = [];
      n = 0;
    }
    if (p.length > 0) {
      list.push(p);
      n += p.length;
    }
  }
  if (n > 0) yield { list, length: n, last: true };
}

/** How far the registry got with an upload session (GET on it: Range "0-N"). */
async function uploadedSoFar(
  c: RegistryClient,
  location: string,
): Promise<{ next: number; location: string }> {
  const res = await c.request('GET', location, { ok: [204] });
  await discard(res);
  const range = /^(?:bytes=)?0-(\d+)$/.exec(String(res.headers.range ?? ''));
  return {
    next: range ? Number(range[1]) + 1 : 0,
    location: res.headers.location ? c.url(res.headers.location).href : location,
  };
}

/** One PATCH; after a broken connection the session's status says what to send again. */
async function patchChunk(c: RegistryClient, location: string, chunk: Parts, start: number): Promise<string> {
  let loc = location;
  let from = start;
  return withRetry(async (attempt) => {
    if (attempt > 1) {
      const status = await uploadedSoFar(c, loc);
      loc = status.location;
      if (status.next >= start + chunk.length) return loc;
      if (status.next < start) throw new StrataError('the registry lost part of an upload');
      from = status.next;
    }
    const body = partsFrom(chunk, from - start);
    const res = await c.request('PATCH', loc, {
      ok: [202],
      retry: false,
      body: body.list,
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `${from}-${from + body.length - 1}`,
      },
    });
    await discard(res);
    loc = locationOf(c, res, 'PATCH');
    return loc;
  });
}

export interface Uploaded {
  digest: Digest;
  size: number;
}

/**
 * Uploads a stream whose digest is only known at its end: a blob that fits in one chunk goes up
 * monolithically (POST, then PUT ?digest= with the bytes); a bigger one as PATCHes of
 * `chunkSize` bytes with Content-Range, then an empty PUT ?digest=. The registry checks the digest.
 */
export async function uploadStream(
  c: RegistryClient,
  repo: string,
  source: AsyncIterable<Uint8Array>,
  opts: {
    chunkSize?: number;
    onBytes?: (n: number) => void;
    /** A request's body pieces, once the registry answered it (their memory may be reused). */
    onSent?: (pieces: readonly Buffer[]) => void;
  } = {},
): Promise<Uploaded> {
  const start = await c.request('POST', `/v2/${repo}/blobs/uploads/`, { ok: [202] });
  await discard(start);
  let location = locationOf(c, start, 'POST');
  const hash = createHash('sha256');
  let size = 0;
  let body: Parts = { list: [], length: 0 };
  trace(`registry: upload to ${repo} started`);
  // One PATCH in flight while the next chunk is read and compressed: the two overlap.
  let inflight: Promise<void> = Promise.resolve();
  for await (const chunk of chunks(source, opts.chunkSize ?? DEFAULT_CHUNK_SIZE)) {
    for (const p of chunk.list) hash.update(p);
    size += chunk.length;
    // The last chunk goes with the PUT (monolithic when it is the only one).
    if (chunk.last) {
      body = chunk;
      break;
    }
    const at = size - chunk.length;
    await inflight;
    inflight = patchChunk(c, location, chunk, at).then((loc) => {
      location = loc;
      opts.onBytes?.(chunk.length);
      opts.onSent?.(chunk.list);
    });
    // Observed at the next await; this only keeps a failure from counting as unhandled meanwhile.
    inflight.catch(() => undefined);
  }
  await inflight;
  const digest = `sha256:${hash.digest('hex')}` as Digest;
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  if (size > body.length) headers['Content-Range'] = `${size - body.length}-${size - 1}`;
  // Not retried blindly: a PUT that completed but whose answer got lost would fail a second time.
  const res = await c.request('PUT', withDigest(location, digest), {
    ok: [201],
    retry: false,
    body: body.list,
    headers,
  });
  await discard(res);
  opts.onBytes?.(body.length);
  const said = res.headers['docker-content-digest'];
  if (typeof said === 'string' && said !== digest)
    throw new DigestMismatchError('the registry stored the upload', digest, said);
  return { digest, size };
}

/** A small blob already in memory (a config): POST, then PUT ?digest= with its bytes. */
export async function uploadBytes(
  c: RegistryClient,
  repo: string,
  bytes: Buffer,
  digest: string,
): Promise<void> {
  await withRetry(async () => {
    const start = await c.request('POST', `/v2/${repo}/blobs/uploads/`, { ok: [202], retry: false });
    await discard(start);
    const res = await c.request('PUT', withDigest(locationOf(c, start, 'POST'), digest), {
      ok: [201],
      retry: false,
      body: bytes,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    await discard(res);
  });
}

/**
 * The bytes of a blob, in order, hashed as they stream in and handed to `sink` (synchronously; a
 * piece is valid only during the call). Resolves only when the digest and size match the descriptor
 * (it throws otherwise), so a caller whose sink saw every piece has consumed verified bytes. A
 * connection that breaks mid-blob is retried from where it stopped (Range: bytes=N-); a server that
 * answers 200 instead of 206 sends the blob from the start and the bytes already poured are skipped:
 * the digest covers exactly the bytes poured, so it still holds. `readInto`: the buffers the socket
 * is read into (a pull's shared slots, layer-thread.ts), by default one of the connection's own.
 */
export async function pourBlob(
  c: RegistryClient,
  repo: string,
  desc: { digest: string; size: number },
  sink: (piece: Buffer) => void,
  onBytes: (n: number) => void = () => undefined,
  policy: RetryPolicy = DEFAULT_RETRY,
  readInto?: BufferSource,
): Promise<void> {
  const hash = createHash('sha256');
  let done = 0;
  for (let attempt = 1; ; attempt++) {
    let res: HttpResponse | null = null;
    try {
      res = await c.request('GET', blobPath(repo, desc.digest), {
        ok: [200, 206],
        retry: false,
        bulk: true,
        readInto,
        headers: done > 0 ? { Range: `bytes=${done}-` } : {},
      });
      // 206 from where we asked (or earlier: the overlap is skipped); 200 is the whole blob again.
      let skip = done;
      if (res.status === 206) {
        const from = /^bytes (\d+)-/.exec(String(res.headers['content-range']));
        if (!from || Number(from[1]) > done)
          throw new StrataError(
            `blob ${desc.digest}: asked for bytes ${done}-, the registry sent ${String(res.headers['content-range'])}`,
          );
        skip = done - Number(from[1]);
      }
      await res.body.pour((piece) => {
        let b = piece;
        if (skip > 0) {
          const n = Math.min(skip, b.length);
          skip -= n;
          b = b.subarray(n);
          if (b.length === 0) return;
        }
        if (done + b.length > desc.size)
          throw new StrataError(
            `blob ${desc.digest}: the registry sent more than the ${desc.size} bytes its descriptor says`,
          );
        hash.update(b);
        done += b.length;
        onBytes(b.length);
        sink(b);
      });
      if (done < desc.size)
        throw new TransientError(
          `blob ${desc.digest}: connection closed after ${done} of ${desc.size} bytes`,
        );
      break;
    } catch (e) {
      if (!isTransient(e) || attempt >= policy.attempts) throw e;
      policy.onRetry?.(attempt, e);
      await backoff(attempt, policy);
    } finally {
      // A sink that refused the bytes, or a failed attempt: the connection is not reusable.
      if (res !== null && !res.body.complete) res.body.destroy();
    }
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== desc.digest)
    throw new DigestMismatchError(
      `blob ${desc.digest} from ${c.endpoint.domain}/${repo}`,
      desc.digest,
      actual,
    );
}

/** A small blob (a config) read whole and verified; refuses one bigger than `limit`. */
export async function readBlob(
  c: RegistryClient,
  repo: string,
  desc: { digest: string; size: number },
  limit = 16 * 1024 * 1024,
): Promise<Buffer> {
  if (desc.size > limit)
    throw new StrataError(
      `blob ${desc.digest}: ${desc.size} bytes is more than the ${limit} a config may have`,
    );
  const parts: Buffer[] = [];
  await pourBlob(c, repo, desc, (b) => parts.push(Buffer.from(b)));
  return Buffer.concat(parts);
}
