// Docker's --user resolution: names and groups looked up in the container's own /etc/passwd and
// /etc/group (never the host's), numeric IDs accepted as they are, supplementary groups added.
import fs from 'node:fs';
import { StrataError } from '../../shared/src/errors.js';
import { secureJoin } from './secure-join.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

function readLines(rootfs: string, file: string): string[][] {
  try {
    return fs
      .readFileSync(secureJoin(rootfs, file), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

const NUMERIC = /^\d+$/;

export function resolveUser(rootfs: string, spec: string): ResolvedUser {
  const [userPart = '', groupPart] = spec.split(':', 2);
  const passwd = readLines(rootfs, '/etc/passwd');
  const groups = readLines(rootfs, '/etc/group');
  let uid = 0;
  let gid = 0;
  let name: string | null = 'root';
  if (userPart !== '') {
    const entry = passwd.find((p) => (NUMERIC.test(userPart) ? p[2] === userPart : p[0] === userPart));
    if (entry) {
      uid = Number(entry[2]);
      gid = Number(entry[3]);
      name = entry[0] ?? null;
    } else if (NUMERIC.test(userPart)) {
      uid = Number(userPart);
      name = null;
    } else {
      throw new StrataError(`unable to find user ${userPart}: no matching entries in passwd file`);
    }
  } else {
    const root = passwd.find((p) => p[2] === '0');
    name = root?.[0] ?? null;
  }
  if (groupPart !== undefined && groupPart !== '') {
    const g = groups.find((e) => (NUMERIC.test(groupPart) ? e[2] === groupPart : e[0] === groupPart));
    if (g) gid = Number(g[2]);
    else if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else throw new StrataError(`unable to find group ${groupPart}: no matching entries in group file`);
  }
  // Docker (and Kubernetes) put the primary group first in the supplementary list:
  // busybox's `id` as root says groups=0(root),10(wheel).
  const member =
    name === null
      ? []
      : groups.filter((g) => (g[3] ?? '').split(',').includes(name!)).map((g) => Number(g[2]));
  return { uid, gid, additionalGids: [...new Set([gid, ...member])] };
}
