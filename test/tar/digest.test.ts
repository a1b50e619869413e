import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTar, Sha256Tap, sha256Digest, sha256Of, tarDirectory } from '../../shared/src/tar/index.js';
import { collect, sh, tempDir } from './util.js';

let work: { dir: string; cleanup: () => void };

beforeAll(() => {
  work = tempDir('strata-digest-');
  mkdirSync(join(work.dir, 'tree/a'), { recursive: true });
  writeFileSync(join(work.dir, 'tree/a/file'), Buffer.alloc(300_000, 7));
  writeFileSync(join(work.dir, 'tree/b'), 'b');
});

afterAll(() => work.cleanup());

const sha256sum = (data: Uint8Array): string =>
  `sha256:${sh('sha256sum', [], { input: data }).toString().split(' ')[0]}`;

describe('sha256 helpers', () => {
  it('Sha256Tap passes bytes through unchanged and matches sha256sum', async () => {
    const tap = new Sha256Tap(tarDirectory(join(work.dir, 'tree')));
    expect(() => tap.digest).toThrow(/before the stream ended/);
    const bytes = await collect(tap);
    expect(tap.done).toBe(true);
    expect(tap.size).toBe(bytes.length);
    expect(tap.digest).toBe(sha256sum(bytes));
    expect(sha256Digest(bytes)).toBe(tap.digest);
    expect(await sha256Of([bytes.subarray(0, 5), bytes.subarray(5)])).toEqual({
      digest: tap.digest,
      size: bytes.length,
    });
  });

  it('a diff ID computed while reading covers trailing padding after the end marker', async () => {
    const tarPath = join(work.dir, 'gnu.tar');
    // GNU tar pads archives to 10240-byte records.
    sh('tar', ['-cf', tarPath, '-C', join(work.dir, 'tree'), '.']);
    const bytes = sh('cat', [tarPath]);
    expect(bytes.length % 10240).toBe(0);
    const tap = new Sha256Tap([bytes.subarray(0, 4096), bytes.subarray(4096)]);
    const names: string[] = [];
    for await (const e of readTar(tap)) names.push(e.path);
    expect(names).toContain('./a/file');
    expect(tap.digest).toBe(sha256sum(bytes));
  });
});
