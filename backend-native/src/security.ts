// The native backend's half of confinement (docs/security.md): the core decides the SecuritySpec
// (shared/src/security.ts); this turns it into strata-shim flags and hands the compiled seccomp
// profile to the shim through an fd. (--privileged's host devices: run-plan.ts.)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SecuritySpec, SeccompProfile } from '../../shared/src/security.js';
import { capabilityMask, compileSeccomp } from '../../shared/src/security.js';
import { StrataError } from '../../shared/src/errors.js';
import { shimPath } from './runtime.js';
import defaultProfile from '../seccomp/default.json' with { type: 'json' };

/** Our default profile (backend-native/seccomp/default.json), Docker's equivalent. */
export const DEFAULT_SECCOMP_PROFILE: SeccompProfile = defaultProfile;

/** Docker's architecture name for this machine (the profile's includes/excludes use them). */
function dockerArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm' };
  return map[process.arch] ?? process.arch;
}

export interface Confinement {
  /** Flags for `strata-shim run|exec`, but `--seccomp-fd N`: the caller knows where `fd` lands. */
  args: string[];
  /** An open fd with the compiled seccomp profile, or null for none (unconfined). */
  fd: number | null;
}

/**
 * Shim flags for a SecuritySpec. The compiled profile travels through an unlinked temporary file
 * rather than argv: the run monitor lives as long as the container, and its command line (ps)
 * should not carry a few kilobytes of rules. The caller closes `fd` once the shim is spawned.
 */
export function confinement(sec: SecuritySpec | undefined): Confinement {
  if (sec === undefined) return { args: [], fd: null };
  const args = ['--caps', capabilityMask(sec.capabilities)];
  if (sec.noNewPrivileges) args.push('--no-new-privs');
  for (const p of sec.maskedPaths) args.push('--mask', p);
  for (const p of sec.readonlyPaths) args.push('--ro-path', p);
  if (sec.seccomp === null) return { args, fd: null };
  if (sec.seccomp !== 'default')
    return { args, fd: compiledProfile(compileSeccomp(sec.seccomp, sec.capabilities, dockerArch())) };
  // The default profile's text depends on the capabilities only: compiled and hashed once per set
  // in a long-lived process (the warm daemon), ~0.25 ms of every start otherwise.
  const caps = sec.capabilities.join(',');
  let text = defaultTexts.get(caps);
  if (text === undefined) {
    text = compileSeccomp(DEFAULT_SECCOMP_PROFILE, sec.capabilities, dockerArch());
    defaultTexts.set(caps, text);
  }
  return { args, fd: compiledProfile(text) };
}

/** The default profile's compiled text by capability set. */
const defaultTexts = new Map<string, string>();

/** The hash of each compiled text seen (a start does not hash the same few kilobytes again). */
const textKeys = new Map<string, string>();

/** Where BPF programs compiled from profiles are kept, by the hash of their compiled text. */
const BPF_CACHE = '/run/strata/seccomp';

/** The profile's text in an unlinked temporary file, open for reading. */
function tempFile(content: string): number {
  const file = path.join(os.tmpdir(), `strata-seccomp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(file, content, { mode: 0o600 });
  const fd = fs.openSync(file, 'r');
  fs.unlinkSync(file);
  return fd;
}

/**
 * An fd the shim reads the filter from. libseccomp takes ~10 ms of CPU to build Docker-sized
 * filters for three architectures (x86_64, x86, x32), far over the 3 ms the issue allows a start:
 * so the shim compiles a profile once (`--export-bpf-fd`), the program is kept in a root-only
 * directory on /run (gone at reboot) named by the hash of the compiled text, and later starts
 * hand the shim the ready program ("bpf\n" + struct sock_filter[]) to install with one prctl.
 * Without a usable cache directory the shim builds the filter itself, as before.
 */
function compiledProfile(text: string): number {
  const key = textKeys.get(text) ?? createHash('sha256').update(text).digest('hex');
  if (textKeys.size < 64) textKeys.set(text, key);
  const file = path.join(BPF_CACHE, `${key}.bpf`);
  try {
    return fs.openSync(file, 'r');
  } catch {
    /* not compiled yet */
  }
  const textFd = tempFile(text);
  let tmp: string | null = null;
  try {
    fs.mkdirSync(BPF_CACHE, { recursive: true, mode: 0o700 });
    tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, 'bpf\n', { mode: 0o600 });
  } catch {
    return textFd; // read-only /run or no permission: the shim compiles at every start
  }
  const out = fs.openSync(tmp, 'a');
  const r = spawnSync(shimPath(), ['exec', '--seccomp-fd', '3', '--export-bpf-fd', '4', '--', '-'], {
    stdio: ['ignore', 'ignore', 'pipe', textFd, out],
    encoding: 'utf8',
  });
  fs.closeSync(out);
  fs.closeSync(textFd);
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new StrataError(
      `compiling the seccomp profile failed: ${(r.stderr ?? '').trim() || `status ${r.status}`}`,
    );
  }
  fs.renameSync(tmp, file); // atomic: a concurrent start reads the old name or the whole program
  return fs.openSync(file, 'r');
}
