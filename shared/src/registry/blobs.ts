// Blob transfers: existence checks (HEAD), cross-repository mounts, uploads (monolithic when the
// blob fits one chunk, chunked PATCHes with Content-Range otherwise) and downloads that verify the
// digest as the bytes stream in and resume with Range after a broken connection.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { RegistryClient } from './client.js';
import { RegistryError } from './client.js';
import { TransientError, discard, withRetry, type HttpResponse } from './http.js';
import { type Digest, DigestMismatchError } from '../store/digest.js';
import { StrataError } from '../errors.js';
import { trace } from '../trace.js';

export const DEFAULT_CHUNK_SIZE = Number(process.env.STRATA_REGISTRY_CHUNK_SIZE ?? 8 * 1024 * 1024);

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

/** Groups a byte stream into buffers of exactly `size` bytes (the last one shorter). */
async function* chunks(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let parts: Uint8Array[] = [];
  let n = 0;
  for await (const piece of source) {
    let p = piece;
    while (n + p.length >= size) {
      const take = size - n;
      parts.push(p.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      n = 0;
      p = p.subarray(take);
    }
    if (p.length > 0) {
      parts.push(p);
      n += p.length;
    }
  }
  if (n > 0) yield Buffer.concat(parts);
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
async function patchChunk(
  c: RegistryClient,
  location: string,
  chunk: Buffer,
  start: number,
): Promise<string> {
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
    const body = chunk.subarray(from - start);
    const res = await c.request('PATCH', loc, {
      ok: [202],
      retry: false,
      body,
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
  opts: { chunkSize?: number; onBytes?: (n: number) => void } = {},
): Promise<Uploaded> {
  const start = await c.request('POST', `/v2/${repo}/blobs/uploads/`, { ok: [202] });
  await discard(start);
  let location = locationOf(c, start, 'POST');
  const hash = createHash('sha256');
  let size = 0;
  let pending: Buffer | null = null;
  trace(`registry: upload to ${repo} started`);
  // One PATCH in flight while the next chunk is read and compressed: the two overlap.
  let inflight: Promise<void> = Promise.resolve();
  for await (const chunk of chunks(source, opts.chunkSize ?? DEFAULT_CHUNK_SIZE)) {
    // Hold each chunk back by one: the last one may go with the PUT (monolithic when it is the only one).
    if (pending) {
      const body = pending;
      const at = size - pending.length;
      await inflight;
      inflight = patchChunk(c, location, body, at).then((loc) => {
        location = loc;
        opts.onBytes?.(body.length);
      });
      // Observed at the next await; this only keeps a failure from counting as unhandled meanwhile.
      inflight.catch(() => undefined);
    }
    hash.update(chunk);
    size += chunk.length;
    pending = chunk;
  }
  await inflight;
  const digest = `sha256:${hash.digest('hex')}` as Digest;
  const body = pending ?? Buffer.alloc(0);
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  if (size > body.length) headers['Content-Range'] = `${size - body.length}-${size - 1}`;
  // Not retried blindly: a PUT that completed but whose answer got lost would fail a second time.
  const res = await c.request('PUT', withDigest(location, digest), {
    ok: [201],
    retry: false,
    body,
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
 * Downloads a blob into `file`, hashing as it is written. A connection that breaks mid-blob is
 * retried from where it stopped (Range: bytes=N-) when the server answers 206, from the start
 * otherwise. The digest and size must match the descriptor, or nothing is returned.
 */
export async function downloadBlob(
  c: RegistryClient,
  repo: string,
  desc: { digest: string; size: number },
  file: string,
  onBytes: (n: number) => void = () => undefined,
): Promise<void> {
  const fd = fs.openSync(file, 'w', 0o600);
  let hash = createHash('sha256');
  let written = 0;
  try {
    await withRetry(async () => {
      const headers: Record<string, string> = {};
      if (written > 0) headers.Range = `bytes=${written}-`;
      const res = await c.request('GET', blobPath(repo, desc.digest), {
        ok: [200, 206],
        retry: false,
        headers,
      });
      const resumed =
        res.status === 206 && new RegExp(`^bytes ${written}-`).test(String(res.headers['content-range']));
      if (!resumed && written > 0) {
        // The server ignored the Range: start over.
        fs.ftruncateSync(fd, 0);
        hash = createHash('sha256');
        written = 0;
      }
      for await (const piece of res.body) {
        const b = piece as Buffer;
        if (written + b.length > desc.size) {
          res.body.destroy();
          throw new StrataError(
            `blob ${desc.digest}: the registry sent more than the ${desc.size} bytes its descriptor says`,
          );
        }
        let off = 0;
        while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off, written + off);
        hash.update(b);
        written += b.length;
        onBytes(b.length);
      }
      if (written < desc.size)
        throw new TransientError(
          `blob ${desc.digest}: connection closed after ${written} of ${desc.size} bytes`,
        );
    });
  } finally {
    fs.closeSync(fd);
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== desc.digest)
    throw new DigestMismatchError(
      `blob ${desc.digest} from ${c.endpoint.domain}/${repo}`,
      desc.digest,
      actual,
    );
}
