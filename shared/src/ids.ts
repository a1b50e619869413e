// Random identifiers and names, as Docker makes them: 64 hex digits, 12 shown; adjective_scientist.

export function randomHex(bytes: number): string {
  const b = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function newId(): string {
  return randomHex(32);
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
