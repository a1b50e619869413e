// Streaming SHA-256: computes a digest while passing the bytes through (layer diff IDs).

import { createHash, type Hash } from 'node:crypto';

/**
 * Wraps a byte stream; iterate it to pass the bytes on, then read `digest` ("sha256:<hex>") and
 * `size`. Reading the digest before the stream has ended throws.
 */
export class Sha256Tap implements AsyncIterable<Uint8Array> {
  private readonly hash: Hash = createHash('sha256');
  private readonly source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  private result: string | null = null;
  private started = false;
  size = 0;

  constructor(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.source = source;
  }

  get done(): boolean {
    return this.result !== null;
  }

  /** "sha256:<64 hex>" of every byte that went through. */
  get digest(): string {
    if (this.result === null) throw new Error('sha256: digest read before the stream ended');
    return this.result;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.started) throw new Error('sha256: a tap can be iterated once');
    this.started = true;
    for await (const chunk of this.source) {
      this.hash.update(chunk);
      this.size += chunk.length;
      yield chunk;
    }
    this.result = `sha256:${this.hash.digest('hex')}`;
  }
}

/** Digest and size of a whole stream (consumes it). */
export async function sha256Of(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<{ digest: string; size: number }> {
  const tap = new Sha256Tap(source);
  const it = tap[Symbol.asyncIterator]();
  while (!(await it.next()).done) {
    // only hashing
  }
  return { digest: tap.digest, size: tap.size };
}

/** "sha256:<hex>" of a byte string. */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
