// Copy-on-write in the container's upper layer, and volumes that bypass it (seed experiments 8, 12).
// Copy-up, whiteouts, opaque dirs and bind/anonymous volumes are shared cases run on both backends:
// test/cases/containers.ts.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyRoot, ok, requireNativePrerequisites, strata, tempRoot } from '../helpers/strata.js';

let root: string;
beforeAll(() => {
  requireNativePrerequisites();
  root = tempRoot('cow');
});
afterAll(() => destroyRoot(root));

function graph(id: string): { upper: string; lowers: string[] } {
  const data = JSON.parse(ok(root, ['inspect', '-f', '{{json .GraphDriver.Data}}', id])) as Record<
    string,
    string
  >;
  return { upper: data.UpperDir!, lowers: data.LowerDir!.split(':') };
}

describe('copy-on-write', () => {
  it('refuses writes everywhere with --read-only', () => {
    const r = strata(root, ['run', '--rm', '--read-only', 'busybox', 'touch', '/x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Read-only file system');
  });
});

describe('volumes', () => {
  it('refuses writes through a :ro bind', () => {
    const hostDir = fs.mkdtempSync(path.join(root, 'ro-'));
    const r = strata(root, ['run', '--rm', '-v', `${hostDir}:/ro:ro`, 'busybox', 'touch', '/ro/x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Read-only file system');
    expect(fs.readdirSync(hostDir)).toEqual([]);
  });

  it('shares a named volume between containers', () => {
    ok(root, ['volume', 'create', 'shared-data']);
    ok(root, ['run', '--rm', '-v', 'shared-data:/v', 'busybox', 'sh', '-c', 'echo one > /v/f']);
    expect(ok(root, ['run', '--rm', '-v', 'shared-data:/w', 'busybox', 'cat', '/w/f'])).toBe('one\n');
    const [v] = JSON.parse(ok(root, ['volume', 'inspect', 'shared-data'])) as Array<Record<string, string>>;
    expect(v!.Mountpoint).toBe(`${root}/volumes/shared-data/_data`);
    ok(root, ['volume', 'rm', 'shared-data']);
    expect(ok(root, ['volume', 'ls', '-q'])).not.toContain('shared-data');
  });

  it('does not follow a symlink in the rootfs that points a volume target at the host', () => {
    const hostDir = fs.mkdtempSync(path.join(root, 'sym-'));
    const id = ok(root, [
      'create',
      '-v',
      `${hostDir}:/tmp/escape/strata-evil`,
      'busybox',
      'ls',
      '/tmp/escape',
    ]).trim();
    // As if a layer shipped /tmp/escape -> / : resolved inside the rootfs, never on the host.
    fs.mkdirSync(path.join(graph(id).upper, 'tmp'), { recursive: true });
    fs.symlinkSync('/', path.join(graph(id).upper, 'tmp', 'escape'));
    const r = strata(root, ['start', '-a', id]);
    expect(r.code).toBe(0);
    expect(fs.existsSync('/strata-evil')).toBe(false);
    expect(fs.existsSync(path.join(graph(id).upper, 'strata-evil'))).toBe(true);
    ok(root, ['rm', id]);
  });
});
