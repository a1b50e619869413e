// Unit checks of the pieces with no network: challenges, endpoints, the auth file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseChallenges } from './challenge.js';
import { endpointFor, isLoopback, normaliseServer } from './host.js';
import { getCredentials, removeCredentials, storeCredentials } from './credentials.js';

describe('challenges', () => {
  it('parses Bearer and Basic with quoted parameters', () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/busybox:pull',
        },
      },
    ]);
    expect(parseChallenges(['Basic realm="Registry Realm"'])).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
    ]);
    expect(parseChallenges(undefined)).toEqual([]);
  });
});

describe('endpoints', () => {
  it("follows Docker's defaults: Hub via registry-1, plain HTTP only for loopback or opt-in", () => {
    expect(endpointFor('docker.io')).toEqual({
      domain: 'docker.io',
      host: 'registry-1.docker.io',
      scheme: 'https',
    });
    expect(endpointFor('127.0.0.1:5000').scheme).toBe('http');
    expect(endpointFor('localhost:5000').scheme).toBe('http');
    expect(endpointFor('registry.example:5000').scheme).toBe('https');
    expect(endpointFor('registry.example:5000', ['registry.example:5000']).scheme).toBe('http');
    expect(isLoopback('[::1]:5000')).toBe(true);
    expect(isLoopback('10.0.0.1:5000')).toBe(false);
    expect(normaliseServer('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normaliseServer('http://127.0.0.1:5000/v2/')).toBe('127.0.0.1:5000');
  });
});

describe('auth file', () => {
  it('stores with mode 0600, reads back, removes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-auth-'));
    const file = path.join(dir, 'auth.json');
    try {
      storeCredentials(file, '127.0.0.1:5000', { username: 'alice', password: 'p:w' });
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(getCredentials(file, '127.0.0.1:5000')).toEqual({ username: 'alice', password: 'p:w' });
      expect(getCredentials(file, 'other')).toBeNull();
      expect(removeCredentials(file, '127.0.0.1:5000')).toBe(true);
      expect(removeCredentials(file, '127.0.0.1:5000')).toBe(false);
      expect(fs.readdirSync(dir)).toEqual(['auth.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
