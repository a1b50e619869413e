// Types shared by the tar reader, writer and extractor.

/** The entry kinds Strata understands (typeflags 0/7, 5, 2, 1, 3, 4, 6). */
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** One archive member's metadata, after PAX and GNU long-name records have been applied. */
export interface TarHeader {
  /** Member name as stored (directories usually end in '/'). */
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (07777); file-type bits are stripped. */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Body length in bytes (0 for everything except 'file'). */
  size: number;
  /** Modification time in seconds since the epoch (PAX may give a fraction). */
  mtime: number;
  /** Symlink target or hardlink source; '' when not a link. */
  linkpath: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX `SCHILY.xattr.NAME` records (raw bytes). */
  xattrs: Record<string, Uint8Array>;
}

/** An entry yielded by readTar(). Its body must be consumed (or ignored) before asking for the next. */
export interface TarEntry extends TarHeader {
  /** Byte offset of the entry's first header block (its PAX/GNU header if it has one). */
  readonly offset: number;
  /**
   * The body as a stream of chunks. The chunks may be views into the source's buffers: use (or copy)
   * each one before pulling the next. Can be called once; unread bytes are skipped by the reader.
   */
  body(): AsyncIterable<Uint8Array>;
  /** The whole body in one buffer; throws a TarError when it is larger than `maxBytes` (default 64 MiB). */
  buffer(maxBytes?: number): Promise<Buffer>;
}

/** Metadata for writing an entry: `path` and `type` are required, the rest defaults sensibly. */
export interface TarWriteHeader {
  path: string;
  type: TarEntryType;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Required for 'file' entries whose body is a stream; inferred from a Uint8Array/string body. */
  size?: number;
  /** Seconds since the epoch; defaults to the writer's fixed mtime or the current time. */
  mtime?: number;
  linkpath?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Uint8Array | string>;
}

/** A file body: bytes, a string (UTF-8) or a stream; a function is called only when the body is written. */
export type TarBody =
  | Uint8Array
  | string
  | AsyncIterable<Uint8Array>
  | Iterable<Uint8Array>
  | (() => AsyncIterable<Uint8Array> | Iterable<Uint8Array>);

export interface TarInput {
  header: TarWriteHeader;
  body?: TarBody;
}

/** Errors from reading, writing or extracting archives. `entry` and `offset` say where. */
export class TarError extends Error {
  readonly entry: string | undefined;
  readonly offset: number | undefined;
  constructor(message: string, opts: { entry?: string; offset?: number } = {}) {
    const where: string[] = [];
    if (opts.entry !== undefined) where.push(`entry ${JSON.stringify(opts.entry)}`);
    if (opts.offset !== undefined) where.push(`offset ${opts.offset}`);
    super(where.length > 0 ? `tar: ${message} (${where.join(', ')})` : `tar: ${message}`);
    this.name = 'TarError';
    this.entry = opts.entry;
    this.offset = opts.offset;
  }
}
