// Default confinement as Docker applies it: capabilities, no_new_privs, masked and read-only paths,
// and seccomp profiles in Docker's JSON format. Pure TypeScript: the core decides what a container
// may do, a backend enforces it (the native one in its C stage, just before execve).
import { UsageError } from './errors.js';

/** Linux capabilities by bit number (<linux/capability.h>), without the CAP_ prefix. */
export const CAPABILITIES: readonly string[] = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
];

/** The 14 capabilities Docker keeps by default (moby's oci/caps/defaults.go), CAP_ prefixed. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Docker's default masked paths: files get /dev/null bound over them, directories an empty ro tmpfs. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Docker's default read-only paths (bind-remounted read-only over themselves). */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** 'CAP_SYS_ADMIN', 'sys_admin', 'SYS_ADMIN' -> 'CAP_SYS_ADMIN'; 'ALL' stays 'ALL'. */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const bare = upper.startsWith('CAP_') ? upper.slice(4) : upper;
  if (!CAPABILITIES.includes(bare)) throw new UsageError(`invalid capability: ${name}`);
  return `CAP_${bare}`;
}

/**
 * The capability set of a container, as Docker's TweakCapabilities computes it: the defaults, plus
 * --cap-add, minus --cap-drop; `ALL` in --cap-add means every capability (minus the drops), `ALL` in
 * --cap-drop means only what --cap-add names. --privileged gets every capability.
 */
export function effectiveCapabilities(
  add: readonly string[],
  drop: readonly string[],
  privileged: boolean,
): string[] {
  const all = CAPABILITIES.map((c) => `CAP_${c}`);
  if (privileged) return all;
  const adds = add.map(normalizeCapability);
  const drops = drop.map(normalizeCapability);
  let base: Set<string>;
  if (adds.includes('ALL')) base = new Set(all.filter((c) => !drops.includes(c)));
  else if (drops.includes('ALL')) base = new Set(adds);
  else base = new Set([...DEFAULT_CAPABILITIES.filter((c) => !drops.includes(c)), ...adds]);
  return all.filter((c) => base.has(c)); // bit order, as /proc/PID/status reads
}

/** The capability bit mask (as in /proc/PID/status CapEff), 16 hex digits. */
export function capabilityMask(caps: readonly string[]): string {
  let mask = 0n;
  for (const c of caps) {
    const bit = CAPABILITIES.indexOf(c.replace(/^CAP_/, ''));
    if (bit < 0) throw new UsageError(`invalid capability: ${c}`);
    mask |= 1n << BigInt(bit);
  }
  return mask.toString(16).padStart(16, '0');
}

// --- seccomp ----------------------------------------------------------------------------------

/** One argument condition of a syscall rule (Docker/OCI: index, value, valueTwo, op). */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface SeccompFilterSet {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface SeccompSyscall {
  names?: string[];
  /** The old single-name form (Docker 1.10 profiles). */
  name?: string;
  action: string;
  errnoRet?: number;
  args?: SeccompArg[] | null;
  includes?: SeccompFilterSet;
  excludes?: SeccompFilterSet;
  comment?: string;
}

/** A profile in Docker's JSON format (`docker run --security-opt seccomp=FILE`). */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: Array<{ architecture: string; subArchitectures?: string[] }>;
  syscalls?: SeccompSyscall[];
}

/** What a container gets, decided by the core from its HostConfig and executed by a backend. */
export interface SecuritySpec {
  /** CAP_-prefixed names, kept in every set (bounding, permitted, effective); others are dropped. */
  capabilities: string[];
  noNewPrivileges: boolean;
  maskedPaths: string[];
  readonlyPaths: string[];
  /** 'default': the backend's built-in profile (Docker's equivalent); null: unconfined. */
  seccomp: 'default' | SeccompProfile | null;
  /** --privileged: also every host device, and /sys read-write. */
  privileged: boolean;
}

/** Parsed --security-opt values (Docker's forms: `seccomp=...`, `no-new-privileges[:|=]true|false`). */
export interface SecurityOpts {
  seccomp: 'default' | 'unconfined' | SeccompProfile;
  noNewPrivileges: boolean | null;
}

/**
 * Parse --security-opt values. `seccomp=FILE` has already been replaced by the file's content, as
 * Docker stores it in HostConfig.SecurityOpt (so a later `start` does not depend on the file).
 */
export function parseSecurityOpts(opts: readonly string[]): SecurityOpts {
  const out: SecurityOpts = { seccomp: 'default', noNewPrivileges: null };
  for (const raw of opts) {
    if (raw === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    const m = /^([a-z-]+)[=:](.*)$/s.exec(raw);
    if (!m) throw new UsageError(`invalid --security-opt: ${raw}`);
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'seccomp') {
      if (value === 'unconfined') out.seccomp = 'unconfined';
      else if (value === 'builtin' || value === '') out.seccomp = 'default';
      else out.seccomp = parseSeccompProfile(value);
    } else if (key === 'no-new-privileges') {
      if (value !== 'true' && value !== 'false') throw new UsageError(`invalid --security-opt 2: "${raw}"`);
      out.noNewPrivileges = value === 'true';
    } else if (key === 'apparmor' || key === 'label') {
      // No LSM here: accepted for compatibility, as Docker on a host without AppArmor/SELinux does.
    } else {
      throw new UsageError(`invalid --security-opt 2: "${raw}"`);
    }
  }
  return out;
}

const ACTIONS = new Set([
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_LOG',
  'SCMP_ACT_TRACE',
]);

/** libseccomp's enum scmp_compare values. */
const OPS: Record<string, number> = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
};

/** Parse and validate a profile's JSON text; errors name what is wrong, as Docker's do. */
export function parseSeccompProfile(text: string): SeccompProfile {
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`Decoding seccomp profile failed: ${(e as Error).message}`);
  }
  if (typeof p !== 'object' || p === null || typeof (p as SeccompProfile).defaultAction !== 'string')
    throw new UsageError('Decoding seccomp profile failed: defaultAction is missing');
  const profile = p as SeccompProfile;
  const check = (action: string) => {
    if (!ACTIONS.has(action)) throw new UsageError(`seccomp profile: unsupported action ${action}`);
  };
  check(profile.defaultAction);
  for (const s of profile.syscalls ?? []) {
    check(s.action);
    for (const a of s.args ?? []) {
      if (OPS[a.op] === undefined) throw new UsageError(`seccomp profile: unsupported operator ${a.op}`);
      if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5)
        throw new UsageError(`seccomp profile: invalid argument index ${a.index}`);
    }
  }
  return profile;
}

/** Docker's architecture names (SCMP_ARCH_X86_64) to libseccomp's (x86_64). */
function archName(a: string): string {
  return a.replace(/^SCMP_ARCH_/, '').toLowerCase();
}

function actionToken(action: string, errnoRet: number | undefined, fallbackErrno: number): string {
  switch (action) {
    case 'SCMP_ACT_ALLOW':
      return 'A';
    case 'SCMP_ACT_ERRNO':
      return `E${errnoRet ?? fallbackErrno}`;
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return 'K';
    case 'SCMP_ACT_KILL_PROCESS':
      return 'P';
    case 'SCMP_ACT_TRAP':
      return 'T';
    case 'SCMP_ACT_LOG':
      return 'L';
    case 'SCMP_ACT_TRACE':
      return `R${errnoRet ?? 0}`;
    default:
      throw new UsageError(`seccomp profile: unsupported action ${action}`);
  }
}

function applies(s: SeccompSyscall, caps: ReadonlySet<string>, arch: string): boolean {
  const inc = s.includes ?? {};
  const exc = s.excludes ?? {};
  if (inc.caps && !inc.caps.every((c) => caps.has(c))) return false;
  if (inc.arches && inc.arches.length > 0 && !inc.arches.includes(arch)) return false;
  if (exc.caps && exc.caps.some((c) => caps.has(c))) return false;
  if (exc.arches && exc.arches.includes(arch)) return false;
  return true;
}

/**
 * Compile a Docker-format profile for one container into the line format the native stage feeds to
 * libseccomp (one rule per line, so the C side stays a few lines of parsing):
 *
 *   default <act>             act: A allow, E<n> errno, K kill thread, P kill process, T trap, L log, R<n> trace
 *   optimize 2                libseccomp's binary tree of syscall numbers instead of a chain: the
 *                             kernel runs the program once per syscall number when it is loaded
 *                             (its allow cache): 0.95 ms of a start for Docker's profile as a chain, 0.36 as a tree
 *   arch <libseccomp name>    extra architectures (the native one is always there)
 *   rule <act> <n> [<index> <op> <value> <valueTwo>]... <syscall>...   n conditions, ANDed
 *
 * includes/excludes are evaluated here against the container's capabilities and the architecture
 * (Docker's names, e.g. amd64). Like runc, conditions that test the same argument twice become
 * separate rules (ORed), and rules whose action is the default action are left out (libseccomp
 * refuses them).
 */
export function compileSeccomp(
  profile: SeccompProfile,
  capabilities: readonly string[],
  dockerArch = 'amd64',
): string {
  const defaultErrno = profile.defaultErrnoRet ?? 1;
  const def = actionToken(profile.defaultAction, profile.defaultErrnoRet, 1);
  const lines = [`default ${def}`, 'optimize 2'];
  const native = { amd64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64' }[dockerArch] ?? '';
  const arches = new Set<string>();
  for (const m of profile.archMap ?? []) {
    if (m.architecture !== native) continue;
    arches.add(m.architecture);
    for (const s of m.subArchitectures ?? []) arches.add(s);
  }
  for (const a of profile.architectures ?? []) arches.add(a);
  for (const a of arches) if (a !== native) lines.push(`arch ${archName(a)}`);
  const caps = new Set(capabilities);
  for (const s of profile.syscalls ?? []) {
    if (!applies(s, caps, dockerArch)) continue;
    const act = actionToken(s.action, s.errnoRet, defaultErrno);
    if (act === def) continue;
    const names = s.names ?? (s.name !== undefined ? [s.name] : []);
    const args = s.args ?? [];
    const cond = (a: SeccompArg) => `${a.index} ${OPS[a.op]} ${BigInt(a.value)} ${BigInt(a.valueTwo ?? 0)}`;
    const repeats = new Set(args.map((a) => a.index)).size < args.length;
    const groups = repeats ? args.map((a) => [a]) : [args];
    if (names.length === 0) continue;
    // One line per entry, not per name: this runs on every `run` and `exec`, and a cold V8 is
    // slow at per-name loops (the default profile has ~330 names in one entry).
    const list = names.join(' ');
    if (/[^a-z0-9_ ]|^ | $|  /.test(list))
      throw new UsageError(`seccomp profile: invalid syscall name in ${names.join(', ')}`);
    for (const g of groups)
      lines.push(`rule ${act} ${g.length}${g.map((a) => ' ' + cond(a)).join('')} ${list}`);
  }
  return lines.join('\n') + '\n';
}

/** --tmpfs PATH[:OPTIONS] -> [path, options] (Docker records it in HostConfig.Tmpfs). */
export function parseTmpfsSpec(spec: string): [string, string] {
  const i = spec.indexOf(':');
  const dest = i < 0 ? spec : spec.slice(0, i);
  const options = i < 0 ? '' : spec.slice(i + 1);
  if (!dest.startsWith('/'))
    throw new UsageError(`invalid mount path: '${dest}' mount path must be absolute`);
  if (dest === '/') throw new UsageError("invalid mount path: destination can't be '/'");
  return [dest, options];
}

/** The mount options of a --tmpfs mount: Docker's defaults, then the user's (later ones win in the kernel). */
export function tmpfsMountOptions(options: string): string[] {
  const user = options === '' ? [] : options.split(',');
  const base = ['nosuid', 'nodev', 'noexec'].filter((o) => !user.includes(o.replace(/^no/, '')));
  return [...base, ...user.filter((o) => !['exec', 'suid', 'dev'].includes(o))];
}

/** The SecuritySpec from Docker's HostConfig fields. */
export function securitySpec(h: {
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  Privileged?: boolean;
  SecurityOpt?: string[] | null;
}): SecuritySpec {
  const privileged = h.Privileged === true;
  const opts = parseSecurityOpts(h.SecurityOpt ?? []);
  const capabilities = effectiveCapabilities(h.CapAdd ?? [], h.CapDrop ?? [], privileged);
  return {
    capabilities,
    // Stricter than Docker (which leaves it off unless asked): set unless --privileged or turned off.
    noNewPrivileges: opts.noNewPrivileges ?? !privileged,
    maskedPaths: privileged ? [] : [...DEFAULT_MASKED_PATHS],
    readonlyPaths: privileged ? [] : [...DEFAULT_READONLY_PATHS],
    seccomp: privileged || opts.seccomp === 'unconfined' ? null : opts.seccomp,
    privileged,
  };
}
