// Tar archives for layers: reader, writer, directory walker, safe extractor and digests.

export * from './types.js';
export { readTar, type ReadTarOptions } from './reader.js';
export { TarWriter, coalesce, comparePaths, type TarWriterOptions } from './writer.js';
export {
  tarDirectory,
  splitDev,
  WHITEOUT_OPAQUE,
  WHITEOUT_PREFIX,
  type TarDirectoryOptions,
} from './directory.js';
export { extractTar, cleanComponents, type ExtractHooks, type ExtractResult } from './extract.js';
export { Sha256Tap, sha256Of, sha256Digest } from './digest.js';
