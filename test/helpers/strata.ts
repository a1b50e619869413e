// Running the real `strata` CLI (as users do) against a throw-away store root, for integration tests.
// These tests need root, overlayfs and namespaces: they fail loudly, never skip, without them.
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(REPO, 'bin', 'strata.js');

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Throws (failing the suite) unless this process can run real containers. */
export function requireNativePrerequisites(): void {
  if (process.getuid?.() !== 0)
    throw new Error('native backend tests must run as root (CI runs them as root)');
  if (!fs.readFileSync('/proc/filesystems', 'utf8').includes('overlay')) {
    spawnSync('modprobe', ['overlay']);
    if (!fs.readFileSync('/proc/filesystems', 'utf8').includes('overlay'))
      throw new Error('the kernel has no overlayfs');
  }
  for (const f of ['dist/strata.mjs', 'build/strata-shim']) {
    if (!fs.existsSync(path.join(REPO, f))) throw new Error(`${f} is missing: run 'npm run setup' first`);
  }
  if (!fs.existsSync('/bin/busybox'))
    throw new Error("/bin/busybox is missing: run 'npm run setup' (installs busybox-static)");
}

export function tempRoot(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `strata-test-${tag}-`));
}

/** Unmount anything left under `root` (a failing test must not leak mounts), then delete it. */
export function destroyRoot(root: string): void {
  // Containers a failed test left running would outlive the store otherwise.
  const ids = strata(root, ['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) strata(root, ['rm', '-f', ...ids]);
  const mounts = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(root + '/'))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  fs.rmSync(root, { recursive: true, force: true });
}

export function strata(
  root: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {},
): Result {
  const r = spawnSync(process.execPath, [BIN, '--root', root, ...args], {
    encoding: 'utf8',
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    timeout: opts.timeout ?? 60_000,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? 128 + (r.signal ? 9 : 0), stdout: r.stdout, stderr: r.stderr };
}

export function strataAsync(root: string, args: string[]): Promise<Result> {
  return collectOutput(
    spawn(process.execPath, [BIN, '--root', root, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
    1,
  );
}

/** A child's exit code and whole output once it has closed; `killedCode` when a signal ended it. */
export function collectOutput(
  child: ChildProcessByStdio<null, Readable, Readable>,
  killedCode: number,
): Promise<Result> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? killedCode, stdout, stderr }));
  });
}

/** Run and insist on success, returning stdout. */
export function ok(root: string, args: string[]): string {
  const r = strata(root, args);
  if (r.code !== 0)
    throw new Error(`strata ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** Mount points of this (host) process, for before/after comparisons. */
/**
 * The host's mount points, less those other test files and benchmarks running in parallel make
 * in their own stores (tmpdir/strata-*) and network namespaces (/run/netns): those come and go
 * while a check runs. Mounts under `ownRoot`, and anywhere else on the host, all count.
 */
export function hostMountPoints(ownRoot?: string): string[] {
  const tmp = os.tmpdir() + '/strata-';
  const own = (m: string) => ownRoot !== undefined && (m === ownRoot || m.startsWith(ownRoot + '/'));
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4]!)
    .filter((m) => own(m) || !(m.startsWith(tmp) || m.startsWith('/run/netns/')));
}

/** Every file under dir, relative, sorted (for "nothing left behind" checks). */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(dir, p));
      if (e.isDirectory()) walk(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out.sort();
}

/**
 * A store's files, less what its warm daemon keeps in tmp/ on its own schedule: the snapshots it
 * makes ahead after a run's answer and what it deletes after one (docs/store.md). Tests that check
 * a command changed nothing compare this.
 */
export function storeTree(root: string): string[] {
  return listTree(root).filter((p) => !/^tmp\/(ahead|removing)-/.test(p));
}

/** The parts of `strata inspect` output the tests read (Docker's shape). */
export interface InspectedContainer {
  Id: string;
  Name: string;
  State: { Status: string; Pid: number; ExitCode: number };
  GraphDriver: { Data: Record<string, string> };
}

export interface InspectedImage {
  Id: string;
  RootFS: { Layers: string[] };
  Config: { Cmd?: string[]; Env?: string[]; ExposedPorts?: Record<string, object> };
}

export function inspect<T>(root: string, ref: string): T {
  const [first] = JSON.parse(ok(root, ['inspect', ref])) as T[];
  if (first === undefined) throw new Error(`inspect ${ref} returned nothing`);
  return first;
}
