// The emu backend's half of confinement (docs/emulator.md, docs/security.md): the guest runs every
// payload through strata-confine, built for i386 from the native shim's confine.c, with the flags
// the native runtime gives its shim. The guest has no libseccomp: its initrd carries the default
// profile compiled to BPF on the build host (images/guest/seccomp.mjs) for Docker's default
// capabilities, which is the program every default container needs.
import defaultProfile from '../../backend-native/seccomp/default.json' with { type: 'json' };
import type { SeccompProfile, SecuritySpec } from '../../shared/src/security.js';
import { DEFAULT_CAPABILITIES, capabilityMask, compileSeccomp } from '../../shared/src/security.js';
import { StrataError } from '../../shared/src/errors.js';
import { shellQuote as q } from './protocol.ts';

/** The stage and the default profile's program, in the guest's own root (images/guest/build.sh). */
export const GUEST_CONFINE = '/bin/strata-confine';
export const GUEST_SECCOMP_BPF = '/etc/strata/seccomp-default.bpf';

/**
 * Both are out of sight once pivot_root (or nsenter -r) has made the container's root the root:
 * the script opens them before, as fds 5 and 6 (these redirections), and reaches them through
 * /proc/self/fd after, as runc executes itself. The stage closes them (close-on-exec) before the
 * payload runs.
 */
export const STAGE_FDS = `5< ${GUEST_CONFINE} 6< ${GUEST_SECCOMP_BPF}`;
const STAGE = '/proc/self/fd/5';

/**
 * The stage's command line for the resolved payload "$r" with `args` (shell-quoted already). The
 * stage resolves `user` (Docker's USER[:GROUP], '' for root) in the container's /etc/passwd and
 * /etc/group, supplementary groups included, as the native backend does on the host.
 */
export function stageCommand(conf: string[], argv0: string, user: string, args: string): string {
  return `${STAGE} ${[...conf, '--user', user, '--argv0', argv0, '--'].map(q).join(' ')} "$r" ${args}`;
}

/** Docker's name for the guest's architecture (the profile's includes/excludes use it). */
const GUEST_ARCH = '386';

function seccompText(caps: readonly string[]): string {
  // i386 is not a native architecture in the profile's archMap (x86_64's sub-architecture): name it,
  // and drop the host's native x86_64, which libseccomp adds and an i386 guest can never use (it
  // was half of the program: ~1.2 M guest instructions per container start to load).
  return compileSeccomp(defaultProfile as SeccompProfile, caps, GUEST_ARCH).replace(
    /^(default [^\n]*\n)/,
    '$1arch x86\narch-remove native\n',
  );
}

/** The default profile in the shim's line format, for the guest build (images/guest/seccomp.mjs). */
export function guestSeccompText(): string {
  return seccompText(DEFAULT_CAPABILITIES);
}

/**
 * strata-confine flags for a SecuritySpec (without --paths, --report-fd, --argv0), or null for no
 * confinement. A profile the guest has no program for is refused with a clear message (exit 125).
 * `bpf`: where the stage reads the program (an exec's stage has it as fd 6; a run's reads the file).
 */
export function confineArgs(sec: SecuritySpec | undefined, bpf = '/proc/self/fd/6'): string[] | null {
  if (sec === undefined) return null;
  const args = ['--caps', capabilityMask(sec.capabilities)];
  if (sec.noNewPrivileges) args.push('--no-new-privs');
  for (const p of sec.maskedPaths) args.push('--mask', p);
  for (const p of sec.readonlyPaths) args.push('--ro-path', p);
  if (sec.seccomp === null) return args;
  if (sec.seccomp !== 'default') {
    throw new StrataError(
      'the emu backend has only the default seccomp profile (its guest has no libseccomp): ' +
        'use --security-opt seccomp=unconfined or the native backend for seccomp=FILE',
    );
  }
  // Docker's profile allows more syscalls for some capabilities (mount with SYS_ADMIN...): the
  // shipped program fits every capability set that compiles to the same rules.
  if (seccompText(sec.capabilities) !== guestSeccompText()) {
    throw new StrataError(
      "the emu backend's default seccomp program is compiled for Docker's default capabilities, and " +
        'the added capabilities change the profile: add --security-opt seccomp=unconfined',
    );
  }
  args.push('--seccomp', bpf);
  return args;
}
