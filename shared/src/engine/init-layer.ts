// What Docker's <id>-init layer holds: mount points and placeholder files the runtime binds over
// (/etc/hostname, /etc/hosts, /etc/resolv.conf), so the image's own layers never show them changed.
import fs from 'node:fs';
import os from 'node:os';
import type { SnapshotEntry } from '../backend.js';

export function initLayerEntries(): SnapshotEntry[] {
  return [
    { kind: 'dir', path: 'dev', mode: 0o755 },
    { kind: 'dir', path: 'dev/pts', mode: 0o755 },
    { kind: 'dir', path: 'dev/shm', mode: 0o755 },
    { kind: 'file', path: 'dev/console', mode: 0o755, content: '' },
    { kind: 'dir', path: 'etc', mode: 0o755 },
    { kind: 'file', path: 'etc/hostname', mode: 0o755, content: '' },
    { kind: 'file', path: 'etc/hosts', mode: 0o755, content: '' },
    { kind: 'file', path: 'etc/resolv.conf', mode: 0o755, content: '' },
    { kind: 'symlink', path: 'etc/mtab', target: '/proc/mounts' },
    { kind: 'dir', path: 'proc', mode: 0o755 },
    { kind: 'dir', path: 'sys', mode: 0o755 },
  ];
}

export function hostsFile(extra: string[] = []): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    ...extra,
    '',
  ].join('\n');
}

/** A host file's text, empty when the host has none. */
function hostFileText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The host's resolv.conf without loopback resolvers, which mean nothing in another network namespace. */
export function resolvConf(hostFile = '/etc/resolv.conf'): string {
  const lines = hostFileText(hostFile)
    .split('\n')
    .filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l));
  return lines.join('\n').trim() + '\n';
}

/**
 * --net host, as Docker: the host's hostname and its /etc/hosts and /etc/resolv.conf as they are
 * (loopback resolvers answer in the host's namespace), so the container's own name resolves as the
 * host's does instead of going to a nameserver.
 */
export function hostNetworkFiles(): { hostname: string; hosts: string; resolvConf: string } {
  return {
    hostname: os.hostname(),
    hosts: hostFileText('/etc/hosts'),
    resolvConf: hostFileText('/etc/resolv.conf'),
  };
}
