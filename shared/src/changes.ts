// `docker diff` lines as every snapshotter reports them: each path once per kind, sorted by path.
import type { Change } from './backend.js';

export function sortedUniqueChanges(changes: readonly Change[]): Change[] {
  const seen = new Set<string>();
  return changes
    .filter((c) => !seen.has(`${c.kind}${c.path}`) && seen.add(`${c.kind}${c.path}`))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
