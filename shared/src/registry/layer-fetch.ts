// A layer pulled in one pass: the registry's bytes are hashed (the blob digest, by blobBytes) and
// handed to a LayerWriter (gunzip in the thread pool, diff-ID hash, one file: the uncompressed
// layer the blob store keeps). No compressed copy is written, nothing is read back, and no layer
// is held in memory (zlib's backpressure paces the download).
//
// Tried and dropped: the LayerWriter in a worker thread, the main thread keeping only HTTP. On this
// 2-core machine under load it cost more CPU (a second isolate, a message per 64 KiB) for no
// shorter pull.
import type { RegistryClient } from './client.js';
import { blobBytes } from './blobs.js';
import { LayerWriteError, LayerWriter, type WrittenLayer } from './layer-writer.js';
import { StrataError } from '../errors.js';

/**
 * Downloads layer `desc` into the new file `file`, uncompressed when `gzip`. Resolves once the
 * blob's digest and size have been verified (blobBytes) and the whole stream written; a blob that
 * does not match its digest is reported as a digest mismatch even when gzip failed first.
 */
export async function fetchLayer(
  c: RegistryClient,
  repo: string,
  desc: { digest: string; size: number },
  gzip: boolean,
  file: string,
  onBytes: (n: number) => void = () => undefined,
): Promise<WrittenLayer> {
  const writer = new LayerWriter(file, gzip);
  try {
    for await (const b of blobBytes(c, repo, desc, onBytes)) await writer.write(b);
    return await writer.end();
  } catch (e) {
    if (e instanceof LayerWriteError)
      throw new StrataError(
        e.kind === 'gzip'
          ? `layer ${desc.digest}: cannot decompress: ${e.message}`
          : `layer ${desc.digest}: ${e.message}`,
      );
    throw e;
  } finally {
    writer.close();
  }
}
