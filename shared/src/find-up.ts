// Locating the checkout's build outputs from wherever a module ended up: in the source tree
// (backend-native/src) or in a bundle chunk (dist/<version>/chunks), the depth differs.
import fs from 'node:fs';
import path from 'node:path';

/** The first existing `<dir>/<rel>` walking up from `start`, or null. */
export function findUp(start: string, rel: string, maxLevels = 6): string | null {
  let dir = start;
  for (let i = 0; i <= maxLevels; i++) {
    const candidate = path.join(dir, rel);
    if (fs.existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return null;
}
