// Rootless mode (docs/rootless.md): an unprivileged `strata` re-runs itself as root of a user
// namespace whose IDs come from the user's subordinate ranges (/etc/subuid, /etc/subgid), created
// (or joined) by the small C stage build/strata-userns, with the maps written by Debian's setuid
// newuidmap/newgidmap (package uidmap). Inside, the native backend runs as usual, minus what a user
// namespace cannot do on this kernel (cgroup v1 limits, mknod of devices, trusted.* xattrs).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { StrataError } from '../../shared/src/errors.js';
import { findUp } from '../../shared/src/find-up.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOTLESS_ENV = 'STRATA_ROOTLESS';
/** IDs given to the container: 0..65535 come from the subordinate range. */
const RANGE = 65536;

/** True inside the user namespace rootless mode made (set by the outer process for the inner). */
export function isRootless(): boolean {
  return process.env[ROOTLESS_ENV] === '1';
}

/** Podman's default location for an unprivileged user's store. */
export function defaultRootlessRoot(): string {
  const data = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'strata');
}

export interface SubordinateRange {
  start: number;
  count: number;
}

/** The first range /etc/subuid (or /etc/subgid) grants this user, by name or numeric ID. */
export function subordinateRange(file: string, name: string, id: number): SubordinateRange | null {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if ((who === name || who === String(id)) && Number(count) >= RANGE)
      return { start: Number(start), count: Number(count) };
  }
  return null;
}

function stagePath(): string {
  const found = findUp(here, 'build/strata-userns');
  if (found) return found;
  throw new StrataError("build/strata-userns is not built: run 'npm run build'");
}

function writeMap(tool: string, pid: number, range: SubordinateRange, own: number): void {
  // Container IDs 0..65535 -> the subordinate range; the user's own ID appears as 65536, so the
  // store it created stays writable for the namespace's root.
  const r = spawnSync(
    tool,
    [String(pid), '0', String(range.start), String(RANGE), String(RANGE), String(own), '1'],
    { encoding: 'utf8' },
  );
  if (r.error)
    throw new StrataError(`rootless mode needs ${tool} (Debian package uidmap): ${r.error.message}`);
  if (r.status !== 0) throw new StrataError(`${tool} failed: ${r.stderr.trim()}`);
}

/**
 * Run this CLI again inside the rootless user namespace and return its exit code. `argv` are the
 * arguments after the global options; `root` is the store root to use.
 */
export async function runRootless(argv: string[], root: string, passGlobals: string[]): Promise<number> {
  const uid = process.getuid!();
  const gid = process.getgid!();
  const name = os.userInfo().username;
  const subuid = subordinateRange('/etc/subuid', name, uid);
  const subgid = subordinateRange('/etc/subgid', name, gid);
  if (!subuid || !subgid) {
    throw new StrataError(
      `rootless mode needs ${RANGE} subordinate UIDs and GIDs for user '${name}' in /etc/subuid and /etc/subgid ` +
        `(as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name}); the native backend otherwise must run as root`,
    );
  }
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const script = process.argv[1] ? path.resolve(process.argv[1]) : '';
  const child = spawn(
    stagePath(),
    [
      '--sync-fd',
      '3',
      '--pidfile',
      path.join(root, 'rootless-pause.pid'),
      '--',
      process.execPath,
      script,
      '--root',
      root,
      ...passGlobals,
      ...argv,
    ],
    {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      env: { ...process.env, [ROOTLESS_ENV]: '1' },
    },
  );
  const sync = child.stdio[3] as Socket;
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 + (os.constants.signals[sig] ?? 15) : 125))),
  );
  const first = await new Promise<string>((resolve) => {
    let buf = '';
    sync.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.trim());
    });
    sync.on('close', () => resolve(buf.trim()));
  });
  if (first === 'u') {
    try {
      writeMap('newuidmap', child.pid!, subuid, uid);
      writeMap('newgidmap', child.pid!, subgid, gid);
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    }
    sync.write('m');
  }
  sync.destroy();
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, forward);
  return exited;
}
