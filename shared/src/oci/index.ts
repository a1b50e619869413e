// OCI image spec documents: types, media types, canonical JSON and builders.

export type * from './types.js';
export * from './mediatypes.js';
export { canonicalJson, canonicalBytes } from './canonical.js';
export * from './builder.js';
