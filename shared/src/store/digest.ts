// Content addressing: sha256 digests, verified whenever content is read back.
import { createHash } from 'node:crypto';
import { StrataError } from '../errors.js';

export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

export function hexOf(d: string): string {
  if (!isDigest(d)) throw new StrataError(`invalid digest '${d}'`);
  return d.slice('sha256:'.length);
}

/** Docker's ChainID: chain(0) = diffID(0); chain(n) = sha256(chain(n-1) + " " + diffID(n)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : sha256(`${prev} ${d}`));
  }
  return out;
}

export class DigestMismatchError extends StrataError {
  constructor(what: string, expected: string, actual: string) {
    super(`${what}: content digest mismatch: expected ${expected}, got ${actual}`);
  }
}
