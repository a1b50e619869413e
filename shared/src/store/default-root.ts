// The store's default root, alone in its module: the thin client (cli/src/client.ts) loads it.
export const DEFAULT_ROOT = '/var/lib/strata';
