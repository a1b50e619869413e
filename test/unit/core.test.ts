// The core's pure logic: Docker's reference grammar, run options, env merging, store primitives.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { familiarString, parseReference } from '../../shared/src/reference.js';
import {
  commandLine,
  mergeEnv,
  parseVolumeSpec,
  type RunOptions,
} from '../../shared/src/engine/run-options.js';
import { chainIds, sha256 } from '../../shared/src/store/digest.js';
import { withLock, atomicWrite } from '../../shared/src/store/fsutil.js';
import { Store } from '../../shared/src/store/index.js';
import type { ImageConfig } from '../../shared/src/oci/types.js';

describe('image references (distribution/reference)', () => {
  it('normalises as the docker CLI does', () => {
    expect(parseReference('busybox')).toEqual({
      domain: 'docker.io',
      path: 'library/busybox',
      tag: 'latest',
      digest: null,
    });
    expect(parseReference('localhost:5000/team/app:v1.2')).toEqual({
      domain: 'localhost:5000',
      path: 'team/app',
      tag: 'v1.2',
      digest: null,
    });
    expect(parseReference('user/app')).toMatchObject({ domain: 'docker.io', path: 'user/app' });
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseReference(`busybox@${d}`)).toMatchObject({ tag: null, digest: d });
    expect(familiarString(parseReference('docker.io/library/busybox'))).toBe('busybox:latest');
    expect(familiarString(parseReference('quay.io/x/y:1'))).toBe('quay.io/x/y:1');
  });
  it('rejects what Docker rejects', () => {
    expect(() => parseReference('Busybox')).toThrow('repository name must be lowercase');
    expect(() => parseReference('a:b:c')).toThrow('invalid reference format');
    expect(() => parseReference('')).toThrow('invalid reference format');
    expect(() => parseReference('busybox@sha256:xyz')).toThrow('bad digest');
  });
});

describe('run options', () => {
  const image: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
    config: { Entrypoint: ['/ep'], Cmd: ['default'] },
  };
  const base = { args: [], entrypoint: null } as unknown as RunOptions;
  it('combines ENTRYPOINT and CMD as Docker', () => {
    expect(commandLine({ ...base }, image)).toEqual(['/ep', 'default']);
    expect(commandLine({ ...base, args: ['x'] }, image)).toEqual(['/ep', 'x']);
    // --entrypoint drops the image's CMD.
    expect(commandLine({ ...base, entrypoint: 'sh' }, image)).toEqual(['sh']);
    expect(commandLine({ ...base, entrypoint: '', args: ['ls'] }, image)).toEqual(['ls']);
    expect(() => commandLine({ ...base, entrypoint: '' }, image)).toThrow('No command specified');
  });
  it('parses -v specs', () => {
    expect(parseVolumeSpec('/h:/c')).toEqual({
      source: '/h',
      destination: '/c',
      readonly: false,
      kind: 'bind',
    });
    expect(parseVolumeSpec('/h:/c:ro')).toMatchObject({ readonly: true, kind: 'bind' });
    expect(parseVolumeSpec('data:/c')).toMatchObject({ source: 'data', kind: 'volume' });
    expect(parseVolumeSpec('/c')).toEqual({
      source: null,
      destination: '/c',
      readonly: false,
      kind: 'volume',
    });
    expect(parseVolumeSpec('/c:ro')).toMatchObject({ source: null, destination: '/c', readonly: true });
    expect(() => parseVolumeSpec('/h:/c:bogus')).toThrow('invalid mode: bogus');
    expect(() => parseVolumeSpec('/h:/')).toThrow("destination can't be '/'");
    expect(() => parseVolumeSpec('bad name:/c')).toThrow('includes invalid characters');
  });
  it('merges env: default PATH, HOSTNAME, image env, then -e (bare names copy the caller)', () => {
    const env = mergeEnv(['A=image', 'B=image'], ['B=flag', 'FROM_HOST', 'UNSET_ONE'], 'h1', true, {
      FROM_HOST: 'yes',
    });
    expect(env).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'HOSTNAME=h1',
      'A=image',
      'B=flag',
      'FROM_HOST=yes',
      'TERM=xterm',
    ]);
    expect(() => mergeEnv([], ['=x'], 'h', false, {})).toThrow('invalid environment variable');
  });
});

describe('store primitives', () => {
  it("computes Docker's ChainIDs", () => {
    const a = sha256('a');
    const b = sha256('b');
    expect(chainIds([a, b])).toEqual([a, sha256(`${a} ${b}`)]);
  });

  it('verifies blobs on read and refuses a corrupted one', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-unit-'));
    try {
      const store = new Store(root);
      const d = store.blobs.put('hello');
      expect(store.blobs.read(d).toString()).toBe('hello');
      fs.writeFileSync(store.blobs.path(d), 'tampered');
      expect(() => store.blobs.read(d)).toThrow('content digest mismatch');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('takes over a lock whose owner died, and serialises live contenders', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-lock-'));
    try {
      const lock = path.join(dir, 'x.lock');
      fs.writeFileSync(lock, '999999999'); // no such PID
      expect(withLock(lock, () => 'got it')).toBe('got it');
      expect(fs.existsSync(lock)).toBe(false);
      fs.writeFileSync(lock, String(process.pid)); // held by a live process
      expect(() => withLock(lock, () => 'no', 50)).toThrow('timed out waiting for lock');
      atomicWrite(path.join(dir, 'f'), 'v1');
      expect(fs.readdirSync(dir).sort()).toEqual(['f', 'x.lock']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('resolves images by name, full ID and short ID prefix', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-unit-'));
    try {
      const store = new Store(root);
      const id = store.images.putImage(
        Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'),
      );
      store.images.tag('app:v1', id);
      expect(store.images.resolve('app:v1')).toBe(id);
      expect(store.images.resolve(id)).toBe(id);
      expect(store.images.resolve(id.slice(7, 19))).toBe(id);
      expect(store.images.resolve('app')).toBeNull();
      expect(store.images.untag('app:v1')).toBe(id);
      expect(store.images.tags().size).toBe(0);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
