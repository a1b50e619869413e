// The core's confinement decisions (shared/src/security.ts): capability sets as Docker computes
// them, and Docker-format seccomp profiles compiled for the shim. No kernel needed.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  capabilityMask,
  compileSeccomp,
  effectiveCapabilities,
  parseSeccompProfile,
  parseSecurityOpts,
  securitySpec,
  tmpfsMountOptions,
  type SeccompProfile,
} from '../../shared/src/security.js';
import { REPO } from '../helpers/strata.js';

describe('capabilities', () => {
  it("computes Docker's default mask and its TweakCapabilities rules", () => {
    expect(capabilityMask(effectiveCapabilities([], [], false))).toBe('00000000a80425fb');
    expect(capabilityMask(effectiveCapabilities(['sys_admin'], [], false))).toBe('00000000a82425fb');
    expect(effectiveCapabilities([], ['ALL'], false)).toEqual([]);
    expect(effectiveCapabilities(['CAP_CHOWN'], ['all'], false)).toEqual(['CAP_CHOWN']);
    expect(effectiveCapabilities(['ALL'], ['SYS_ADMIN'], false)).not.toContain('CAP_SYS_ADMIN');
    expect(effectiveCapabilities(['ALL'], [], false)).toHaveLength(41);
    // An add wins over a drop of the same capability (Docker appends the adds after dropping).
    expect(effectiveCapabilities(['NET_RAW'], ['NET_RAW'], false)).toContain('CAP_NET_RAW');
    expect(capabilityMask(effectiveCapabilities([], [], true))).toBe('000001ffffffffff');
    expect(() => effectiveCapabilities(['BOGUS'], [], false)).toThrow('invalid capability: BOGUS');
  });

  it('turns the rest off for --privileged and keeps no_new_privs otherwise', () => {
    const def = securitySpec({});
    expect(def.noNewPrivileges).toBe(true);
    expect(def.seccomp).toBe('default');
    expect(def.maskedPaths).toContain('/proc/kcore');
    expect(def.readonlyPaths).toContain('/proc/sys');
    const priv = securitySpec({
      Privileged: true,
      SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'],
    });
    expect(priv).toMatchObject({ noNewPrivileges: false, seccomp: null, maskedPaths: [], readonlyPaths: [] });
    expect(securitySpec({ SecurityOpt: ['no-new-privileges=false'] }).noNewPrivileges).toBe(false);
    expect(securitySpec({ SecurityOpt: ['seccomp=unconfined'] }).seccomp).toBeNull();
    expect(() => parseSecurityOpts(['seccomp={not json'])).toThrow(/Decoding seccomp profile failed/);
    expect(() => parseSecurityOpts(['bogus=1'])).toThrow(/invalid --security-opt/);
  });

  it("--tmpfs gets Docker's nosuid,nodev,noexec unless lifted", () => {
    expect(tmpfsMountOptions('')).toEqual(['nosuid', 'nodev', 'noexec']);
    expect(tmpfsMountOptions('exec,size=1m')).toEqual(['nosuid', 'nodev', 'size=1m']);
  });
});

/** The compiled lines with one rule per syscall: 'A read', 'A clone 0 7 2114060288 0', ... */
function perName(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const [kind, act, n, ...rest] = line.split(' ');
    if (kind !== 'rule') {
      out.push(line);
      continue;
    }
    const conds = rest.slice(0, 4 * Number(n));
    for (const name of rest.slice(4 * Number(n))) out.push([act, name, ...conds].join(' '));
  }
  return out;
}

describe('seccomp compilation', () => {
  const profile = parseSeccompProfile(
    fs.readFileSync(path.join(REPO, 'backend-native', 'seccomp', 'default.json'), 'utf8'),
  );

  it('evaluates capability groups and argument conditions of the default profile', () => {
    const plain = perName(compileSeccomp(profile, effectiveCapabilities([], [], false)));
    expect(plain.slice(0, 2)).toEqual(['default E1', 'optimize 2']);
    expect(plain).toContain('arch x86');
    expect(plain).toContain('arch x32');
    expect(plain).not.toContain('arch arm');
    expect(plain).toContain('A read');
    // clone without namespace flags; clone3 answers ENOSYS; no mount, unshare or keyctl.
    expect(plain).toContain(`A clone 0 7 ${0x7e020000} 0`);
    expect(plain).not.toContain('A clone');
    expect(plain).toContain('E38 clone3');
    expect(plain.some((l) => /^\S+ (mount|unshare|keyctl|add_key)\b/.test(l))).toBe(false);
    expect(plain).toContain('A chroot'); // CAP_SYS_CHROOT is a default capability
    expect(plain).toContain('A personality 0 4 8 0');

    const admin = perName(compileSeccomp(profile, effectiveCapabilities(['SYS_ADMIN'], [], false)));
    expect(admin).toContain('A mount');
    expect(admin).toContain('A clone');
    expect(admin).not.toContain('E38 clone3');
  });

  it('splits conditions on the same argument into separate rules and skips default-action rules', () => {
    const p: SeccompProfile = {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        {
          names: ['socket'],
          action: 'SCMP_ACT_ALLOW',
          args: [
            { index: 0, value: 1, op: 'SCMP_CMP_EQ' },
            { index: 0, value: 2, op: 'SCMP_CMP_EQ' },
          ],
        },
        { names: ['getpid'], action: 'SCMP_ACT_ERRNO' },
        { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
      ],
    };
    expect(compileSeccomp(p, [])).toBe(
      'default E1\noptimize 2\nrule A 1 0 4 1 0 socket\nrule A 1 0 4 2 0 socket\nrule E13 0 kill\n',
    );
    expect(() => parseSeccompProfile('{"defaultAction":"SCMP_ACT_NOTIFY"}')).toThrow(/unsupported action/);
  });
});
