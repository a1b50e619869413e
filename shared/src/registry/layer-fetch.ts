// A layer pulled in one pass: the registry's bytes are hashed (the blob digest, by pourBlob) and
// handed, piece by piece and synchronously, to a LayerWriter (gunzip, diff-ID hash, one file: the
// uncompressed layer the blob store keeps). No compressed copy is written, nothing is read back,
// and no layer is held in memory: the next piece is read once this one is written.
//
// With a LayerThread (layer-thread.ts, what `pull` uses) the diff-ID hash and the writes run on a
// second thread, fed through shared memory; the socket reads, the blob digest and the gunzip stay
// here. Tried and dropped: the whole LayerWriter in a worker thread, the main thread keeping only
// HTTP, fed by messages: on this 2-core machine under load it cost more CPU (a second isolate, a
// message per 64 KiB) for no shorter pull.
import type { RegistryClient } from './client.js';
import { pourBlob } from './blobs.js';
import { LayerWriteError, LayerWriter, type WrittenLayer } from './layer-writer.js';
import { StrataError } from '../errors.js';
import type { LayerThread } from './layer-thread.js';

/**
 * Downloads layer `desc` into the new file `file`, uncompressed when `gzip`. Resolves once the
 * blob's digest and size have been verified (pourBlob) and the whole stream written; a blob that
 * does not match its digest is reported as a digest mismatch even when gzip failed first. With
 * `thread`, the socket is read and the gunzip writes into its shared slots, and the diff-ID hash
 * and the file's writes run on it (layer-thread.ts).
 */
export async function fetchLayer(
  c: RegistryClient,
  repo: string,
  desc: { digest: string; size: number },
  gzip: boolean,
  file: string,
  onBytes: (n: number) => void = () => undefined,
  thread?: LayerThread,
): Promise<WrittenLayer> {
  const writer = new LayerWriter(file, gzip, thread);
  try {
    await pourBlob(c, repo, desc, (b) => writer.write(b), onBytes, undefined, thread);
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
    await writer.close();
  }
}
