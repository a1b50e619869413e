// A gzip stream of stored (uncompressed) deflate blocks, framed here rather than by zlib: for
// layers deflate cannot shrink (push.ts decides). Each block is a 5-byte header plus a slice of
// the source's own buffer, so the bytes are never copied; zlib's level 0 copied every byte into
// fresh output buffers, through a thread-pool round trip per MiB. Blocks start at fixed offsets of
// the uncompressed stream (every 65535 bytes), whatever the source's pieces: the same layer
// always gives the same bytes, hence the same digest.
import { crc32 } from 'node:zlib';

const BLOCK = 65_535;
/** ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=3 (Unix), as zlib writes it. */
const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);

function blockHeader(length: number, final: boolean): Buffer {
  const h = Buffer.allocUnsafe(5);
  h[0] = final ? 1 : 0; // BFINAL, BTYPE=00 (stored)
  // LEN and NLEN, little-endian (byte stores: writeUInt16LE's checks cost more, 1,600 times per 100 MB).
  h[1] = length & 0xff;
  h[2] = length >>> 8;
  h[3] = ~length & 0xff;
  h[4] = (~length >>> 8) & 0xff;
  return h;
}

/** `source` must be exactly `total` bytes long (the block lengths are laid out from it). */
export async function* storedGzip(source: AsyncIterable<Uint8Array>, total: number): AsyncGenerator<Buffer> {
  yield HEADER;
  let crc = 0;
  let size = 0;
  /** Bytes still to come in the block opened last (0: the next byte opens a new block). */
  let open = 0;
  for await (const piece of source) {
    let p = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    if (size + p.length > total) throw new Error(`stored gzip: more than the ${total} bytes announced`);
    crc = crc32(p, crc);
    while (p.length > 0) {
      if (open === 0) {
        open = Math.min(BLOCK, total - size);
        yield blockHeader(open, size + open === total);
      }
      const n = Math.min(open, p.length);
      yield p.subarray(0, n);
      open -= n;
      size += n;
      p = p.subarray(n);
    }
  }
  if (size !== total) throw new Error(`stored gzip: ${size} bytes of the ${total} announced`);
  if (total === 0) yield blockHeader(0, true);
  const trailer = Buffer.allocUnsafe(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(total % 2 ** 32, 4);
  yield trailer;
}
