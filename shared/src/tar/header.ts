// The on-disk tar header: ustar fields, checksums, base-256 numbers and PAX records.
// Layout (POSIX.1-1988 ustar, offsets in bytes): name 0/100, mode 100/8, uid 108/8, gid 116/8,
// size 124/12, mtime 136/12, chksum 148/8, typeflag 156/1, linkname 157/100, magic 257/6,
// version 263/2, uname 265/32, gname 297/32, devmajor 329/8, devminor 337/8, prefix 345/155.

import { Buffer } from 'node:buffer';
import { TarError, type TarEntryType } from './types.js';

export const BLOCK = 512;

export const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

export type FieldName = keyof typeof F;

const TYPE_TO_FLAG: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

export function typeflagOf(type: TarEntryType): number {
  return TYPE_TO_FLAG[type].charCodeAt(0);
}

/** Maps a member typeflag byte to an entry type; null for meta entries and unknown flags. */
export function entryTypeOf(flag: number): TarEntryType | null {
  switch (flag) {
    case 0:
    case 0x30: // '0'
    case 0x37: // '7' contiguous file
      return 'file';
    case 0x31:
      return 'hardlink';
    case 0x32:
      return 'symlink';
    case 0x33:
      return 'char';
    case 0x34:
      return 'block';
    case 0x35:
      return 'dir';
    case 0x36:
      return 'fifo';
    default:
      return null;
  }
}

/** Sum of the header bytes with the checksum field read as eight spaces (unsigned and signed). */
export function checksums(block: Uint8Array): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b >= 0x80 ? b - 256 : b;
  }
  return { unsigned, signed };
}

export function isZeroBlock(block: Uint8Array): boolean {
  // Compare 8 bytes at a time where alignment allows; headers are small so a plain loop is fine.
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** A NUL-terminated string field, decoded as UTF-8. */
export function readString(block: Uint8Array, [off, len]: readonly [number, number]): string {
  let end = off;
  const max = off + len;
  while (end < max && block[end] !== 0) end++;
  return Buffer.from(block.buffer, block.byteOffset, block.byteLength).toString('utf8', off, end);
}

/** A numeric field: octal text (space/NUL padded) or GNU base-256 when the top bit is set. */
export function readNumber(block: Uint8Array, [off, len]: readonly [number, number]): number {
  const first = block[off]!;
  if (first & 0x80) {
    // Base-256, two's complement big-endian. 0x80 marks positive, 0xff negative.
    // Starting from -1 for a 0xff lead byte sign-extends the value.
    let value = first === 0xff ? -1 : first & 0x7f;
    for (let i = off + 1; i < off + len; i++) value = value * 256 + block[i]!;
    if (!Number.isSafeInteger(value)) throw new TarError('numeric field out of range');
    return value;
  }
  let i = off;
  const end = off + len;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i]!;
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  if (digits === 0) return 0;
  return value;
}

/** Largest value an octal field of `len` bytes holds (len-1 digits and a NUL). */
export function octalMax(len: number): number {
  return 8 ** (len - 1) - 1;
}

export function writeOctal(block: Buffer, [off, len]: readonly [number, number], value: number): void {
  const text = Math.trunc(value)
    .toString(8)
    .padStart(len - 1, '0');
  block.write(text, off, len - 1, 'latin1');
  block[off + len - 1] = 0;
}

/** Writes a string field; returns false when it does not fit (the caller then needs PAX). */
export function writeString(block: Buffer, [off, len]: readonly [number, number], value: string): boolean {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > len) return false;
  block.write(value, off, len, 'utf8');
  return true;
}

export function writeChecksum(block: Buffer): void {
  const { unsigned } = checksums(block);
  // GNU tar's form: six octal digits, NUL, space.
  block.write(unsigned.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  block[154] = 0;
  block[155] = 0x20;
}

/** Splits a path into ustar prefix and name if it can be stored without PAX. */
export function splitUstarPath(path: string): { name: string; prefix: string } | null {
  const total = Buffer.byteLength(path, 'utf8');
  if (total <= 100) return { name: path, prefix: '' };
  if (total > 256) return null;
  // Try every '/' from the right such that name <= 100 and prefix <= 155 bytes.
  for (let i = path.length - 1; i > 0; i--) {
    if (path.charCodeAt(i) !== 0x2f) continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    const pb = Buffer.byteLength(prefix, 'utf8');
    const nb = Buffer.byteLength(name, 'utf8');
    if (nb > 100) return null; // moving left only makes name longer
    if (pb <= 155 && nb > 0) return { name, prefix };
  }
  return null;
}

/** One PAX record: "LEN KEY=VALUE\n" where LEN counts the whole record including itself. */
export function paxRecord(key: string, value: Uint8Array | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  const base = Buffer.byteLength(key, 'utf8') + v.length + 3; // ' ', '=', '\n'
  let len = base + String(base).length;
  if (String(len).length !== String(base).length) len = base + String(len).length;
  const head = Buffer.from(`${len} ${key}=`, 'utf8');
  return Buffer.concat([head, v, Buffer.from('\n')]);
}

/** Parses a PAX extended header body into raw records (values are byte views). */
export function parsePax(body: Uint8Array, offset: number): Map<string, Buffer> {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) break; // trailing NUL padding
    const space = buf.indexOf(0x20, pos);
    if (space < 0) throw new TarError('malformed PAX record (no length)', { offset });
    const len = Number(buf.toString('latin1', pos, space));
    if (!Number.isInteger(len) || len <= space - pos + 1 || pos + len > buf.length) {
      throw new TarError('malformed PAX record length', { offset });
    }
    const end = pos + len;
    if (buf[end - 1] !== 0x0a) throw new TarError('malformed PAX record (no newline)', { offset });
    const eq = buf.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end) throw new TarError('malformed PAX record (no "=")', { offset });
    const key = buf.toString('utf8', space + 1, eq);
    out.set(key, buf.subarray(eq + 1, end - 1));
    pos = end;
  }
  return out;
}
