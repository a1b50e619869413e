// Random identifiers and names, as Docker makes them: 64 hex digits, 12 shown; adjective_scientist.

export function randomHex(bytes: number): string {
  const b = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * A container's (or volume's, layer cache's) ID. Its 12 shown digits are the container's hostname,
 * and an all-decimal one is a name glibc takes for a numeric address: gethostbyname() then fails
 * ("Unknown host") without reading /etc/hosts, so `hostname -i` failed in about 1 container of
 * 284 ((10/16)^12). Docker draws again in that case (pkg/stringid GenerateRandomID), as here.
 * `draw` is the source of raw IDs (the system CSPRNG unless a test gives one).
 */
export function newId(draw: () => string = () => randomHex(32)): string {
  for (;;) {
    const id = draw();
    if (!/^[0-9]{12}$/.test(shortId(id))) return id;
  }
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

const ADJECTIVES = [
  'admiring',
  'bold',
  'brave',
  'clever',
  'dazzling',
  'eager',
  'elegant',
  'focused',
  'gallant',
  'happy',
  'jolly',
  'keen',
  'lucid',
  'modest',
  'nifty',
  'pensive',
  'quirky',
  'relaxed',
  'serene',
  'stoic',
  'tender',
  'upbeat',
  'vibrant',
  'wizardly',
  'zealous',
];
const NAMES = [
  'babbage',
  'curie',
  'dijkstra',
  'einstein',
  'feynman',
  'goldberg',
  'hopper',
  'hypatia',
  'kepler',
  'knuth',
  'lamport',
  'lovelace',
  'mccarthy',
  'noether',
  'pike',
  'ritchie',
  'shannon',
  'thompson',
  'torvalds',
  'turing',
  'wozniak',
];

export function randomName(): string {
  const b = new Uint8Array(2);
  globalThis.crypto.getRandomValues(b);
  return `${ADJECTIVES[b[0]! % ADJECTIVES.length]}_${NAMES[b[1]! % NAMES.length]}`;
}

/** Docker's container name rule. */
export const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
