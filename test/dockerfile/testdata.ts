// Locates BuildKit's Dockerfile conformance data (../shared/testdata/dockerfile-parser, next to the
// repository). A missing folder is a hard failure, never a skip.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const TESTDATA = path.resolve(repoRoot, '..', 'shared', 'testdata', 'dockerfile-parser');

export function testdataPath(...parts: string[]): string {
  const p = path.join(TESTDATA, ...parts);
  if (!existsSync(p)) {
    throw new Error(
      `Dockerfile conformance data missing: ${p} (expected at <repo>/../shared/testdata/dockerfile-parser)`,
    );
  }
  return p;
}

/** Sub-directories of a testdata folder; throws when the folder is missing or empty. */
export function listCases(folder: string): string[] {
  const dir = testdataPath(folder);
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  if (names.length === 0) throw new Error(`no conformance cases in ${dir}`);
  return names;
}
