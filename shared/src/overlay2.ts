// Naming in Docker's overlay2 layout, shared by every backend that lays snapshots out that way.
const LINK_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A snapshot's 26-character short name: overlay2/l/<SHORT> -> ../<id>/diff. */
export function shortLinkName(): string {
  const bytes = new Uint8Array(26);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => LINK_CHARS[b % LINK_CHARS.length]).join('');
}
