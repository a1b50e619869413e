// Canonical JSON: object keys sorted (by UTF-16 code units, as JavaScript sorts), no insignificant
// whitespace, `undefined` members dropped, only finite numbers (integers must be safe). The same
// value always gives the same bytes, so digests of configs and manifests are reproducible.

import { Buffer } from 'node:buffer';

function encode(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: non-finite number at ${path}`);
      if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
        throw new TypeError(`canonical JSON: integer beyond 2^53 at ${path}`);
      }
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((v, i) => (v === undefined ? 'null' : encode(v, `${path}[${i}]`))).join(',')}]`;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`canonical JSON: not a plain object at ${path}`);
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${encode(obj[k], `${path}.${k}`)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON: cannot encode ${typeof value} at ${path}`);
  }
}

/** Canonical JSON text of a value. */
export function canonicalJson(value: unknown): string {
  return encode(value, '$');
}

/** Canonical JSON as UTF-8 bytes (what gets hashed and stored). */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}
