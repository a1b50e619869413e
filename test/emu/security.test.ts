// Default confinement on the emu backend (issue 9, docs/emulator.md "Security"): the guest runs every
// payload and exec through strata-confine (i386, built from the native shim's confine.c) with a
// seccomp BPF program compiled on the build host. One guest for the whole file, driven through the
// core's Engine in-process as test/emu/backend.test.ts; few containers, many checks each (a start
// costs seconds of emulated CPU). Fails (never skips) when the guest image is missing.
import { describe, expect, it } from 'vitest';
import { StrataError } from '../../shared/src/errors.ts';
import type { RunOptions } from '../../shared/src/engine/run-options.ts';
import { captureOutput, runOptions as opts, startEmuEngineOnce, type EmuFixture } from './engine-fixture.ts';

/** Docker's default capability set (the 14 it keeps) as /proc/PID/status prints it. */
const DOCKER_DEFAULT_CAPS = '00000000a80425fb';
const TEST_TIMEOUT = 300_000;

let f: EmuFixture | undefined;
startEmuEngineOnce('security', (fixture) => (f = fixture));

/** `sh -c script` in an attached container: exit code, stdout, stderr. */
async function sh(
  script: string,
  o: Partial<RunOptions> = {},
): Promise<{ code: number; out: string; err: string }> {
  const rec = await f!.engine.create(opts(['sh', '-c', script], o));
  try {
    const r = await captureOutput(async () => {
      const { exit } = await f!.engine.start(rec, { kind: 'attach', tty: false, stdin: false });
      return (await exit!).exitCode;
    });
    return { code: r.value, out: r.out, err: r.err };
  } finally {
    await f!.engine.remove(rec, { force: true, volumes: true });
  }
}

/** The start of a container with `o` fails: its StrataError. */
async function startError(o: Partial<RunOptions>): Promise<StrataError> {
  const rec = await f!.engine.create(opts(['true'], o));
  try {
    const e = await f!.engine
      .start(rec, { kind: 'attach', tty: false, stdin: false })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StrataError);
    return e as StrataError;
  } finally {
    await f!.engine.remove(rec, { force: true, volumes: true });
  }
}

/** Status fields, then what each escape attempt gives; one container start for all of it. */
const PROBE = [
  "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status",
  'id',
  // Masked with /dev/null: no kernel memory (and no timer list) however it is read.
  'echo kcore=$(head -c 16 /proc/kcore | wc -c)',
  'echo timer_list=$(wc -c < /proc/timer_list)',
  'echo hostname-write; echo pwned > /proc/sys/kernel/hostname && echo written',
  'echo mount; mkdir -p /mnt && mount -t tmpfs none /mnt && echo mounted',
  // An unprivileged user namespace needs no capability: only seccomp stops it.
  'echo unshare; unshare -U true && echo unshared',
  'echo end',
].join('\n');

function fields(out: string): Record<string, string> {
  return Object.fromEntries(
    out
      .split('\n')
      .filter((l) => /^\w+:\t/.test(l))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
}

describe('emu backend confinement (strata-confine in the guest)', () => {
  it(
    "a default container: Docker's capabilities, no_new_privs, seccomp, masked and read-only paths",
    async () => {
      const r = await sh(PROBE);
      expect(r.out).toMatch(/end\n$/);
      const st = fields(r.out);
      expect(st.CapEff).toBe(DOCKER_DEFAULT_CAPS);
      expect(st.CapPrm).toBe(DOCKER_DEFAULT_CAPS);
      expect(st.CapBnd).toBe(DOCKER_DEFAULT_CAPS);
      expect(st.CapInh).toBe('0000000000000000');
      expect(st.CapAmb).toBe('0000000000000000');
      expect(st.NoNewPrivs).toBe('1');
      expect(st.Seccomp).toBe('2');
      // The image's root with its supplementary groups, resolved in the container by the stage.
      expect(r.out).toContain('uid=0(root) gid=0(root) groups=0(root),10(wheel)\n');
      expect(r.out).toContain('kcore=0\n');
      expect(r.out).toContain('timer_list=0\n');
      expect(r.out).toContain('hostname-write\nmount\n'); // neither "written" nor "mounted"
      expect(r.out).toContain('unshare\nend\n');
      expect(r.err).toMatch(/can't create \/proc\/sys\/kernel\/hostname: Read-only file system/);
      // mount: no CAP_SYS_ADMIN, and the profile does not allow the call without it.
      expect(r.err).toMatch(
        /mount: permission denied|mounting none on \/mnt failed: Operation not permitted/,
      );
      expect(r.err).toMatch(/unshare: unshare\(0x10000000\): Operation not permitted/);
    },
    TEST_TIMEOUT,
  );

  it(
    '--privileged lifts all of it; a non-root user keeps no capabilities',
    async () => {
      const r = await sh(PROBE, { privileged: true });
      expect(r.out).toMatch(/end\n$/);
      const st = fields(r.out);
      expect(st.CapEff).toMatch(/^000001ffffffffff$|^000000ffffffffff$/);
      expect(st.CapBnd).toBe(st.CapEff);
      expect(st.NoNewPrivs).toBe('0');
      expect(st.Seccomp).toBe('0');
      expect(r.out).toContain('kcore=16\n');
      expect(r.out).toContain('written\n');
      expect(r.out).toContain('mounted\n');
      expect(r.out).toContain('unshared\n');

      const user = await sh("id; grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status", {
        user: 'nobody',
      });
      expect(user.out).toMatch(/^uid=65534\(nobody\) gid=65534/);
      expect(fields(user.out)).toEqual({
        CapEff: '0000000000000000',
        CapBnd: DOCKER_DEFAULT_CAPS,
        NoNewPrivs: '1',
      });
    },
    TEST_TIMEOUT,
  );

  it(
    'an exec is confined as the container; --init confines the payload',
    async () => {
      const rec = await f!.engine.create(opts(['sleep', '1000'], { detach: true }));
      try {
        await f!.engine.start(rec, { kind: 'log', path: f!.engine.logPath(rec), tty: false });
        const spec = await f!.engine.spec(rec);
        const r = await captureOutput(() =>
          f!.backend.runtime.exec(
            spec,
            rec.State.Pid,
            {
              args: [
                'sh',
                '-c',
                "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; ls -l /proc/self/fd",
              ],
              env: rec.Config.Env ?? [],
              cwd: '/',
              user: '',
              terminal: false,
            },
            { kind: 'attach', tty: false, stdin: false },
          ),
        );
        expect(r.value).toBe(0);
        expect(fields(r.out)).toEqual({ CapEff: DOCKER_DEFAULT_CAPS, NoNewPrivs: '1', Seccomp: '2' });
        // Only stdio (and ls's own directory fd): not the stage's binary, nothing of the guest's.
        expect(r.out).not.toContain('strata-confine');
        expect(r.out).not.toMatch(/ 5 -> /);
      } finally {
        await f!.engine.remove(rec, { force: true, volumes: true });
      }
      const init = await sh("grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status", { init: true });
      expect(fields(init.out)).toEqual({ CapEff: DOCKER_DEFAULT_CAPS, NoNewPrivs: '1', Seccomp: '2' });
    },
    TEST_TIMEOUT,
  );

  it(
    "the guest's default program checks for i386 only: no x86_64 section (the guest is i386)",
    async () => {
      // The file every container's stage loads: struct sock_filter[] (code u16, jt u8, jf u8, k u32).
      const r = await f!.guest.runBytes('cat /etc/strata/seccomp-default.bpf');
      expect(r.exitCode).toBe(0);
      const b = Buffer.from(r.stdout);
      expect(b.length % 8).toBe(0);
      const AUDIT_ARCH_I386 = 0x40000003;
      const AUDIT_ARCH_X86_64 = 0xc000003e;
      const archs = new Set<number>();
      for (let i = 0; i < b.length; i += 8) {
        const k = b.readUInt32LE(i + 4);
        // BPF_JMP|BPF_JEQ|BPF_K against either architecture's AUDIT_ARCH_* constant.
        if (b.readUInt16LE(i) === 0x15 && (k === AUDIT_ARCH_I386 || k === AUDIT_ARCH_X86_64)) archs.add(k);
      }
      expect([...archs]).toEqual([AUDIT_ARCH_I386]);
      expect(archs.has(AUDIT_ARCH_X86_64)).toBe(false);
      // About half of what it is with the x86_64 section (~860 instructions as a tree).
      expect(b.length / 8).toBeLessThan(600);
      // A binary tree of syscall numbers (BPF_JMP|BPF_JGT|BPF_K splits), not a chain of ~360
      // compares: the kernel runs the program for every syscall number when the stage loads it.
      let splits = 0;
      for (let i = 0; i < b.length; i += 8) if (b.readUInt16LE(i) === 0x25) splits++;
      expect(splits).toBeGreaterThan(20);
    },
    TEST_TIMEOUT,
  );

  it(
    'refuses, with exit 125 and a clear message, the seccomp programs the guest does not have',
    async () => {
      // The CLI reads the file: the engine gets its JSON (as Docker's daemon).
      const profile = JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] });
      const custom = await startError({ securityOpt: [`seccomp=${profile}`] });
      expect(custom.exitCode).toBe(125);
      expect(custom.message).toContain('the emu backend has only the default seccomp profile');
      const caps = await startError({ capAdd: ['SYS_ADMIN'] });
      expect(caps.exitCode).toBe(125);
      expect(caps.message).toContain('seccomp=unconfined');
      // As the message says: unconfined, SYS_ADMIN mounts.
      const r = await sh('mkdir -p /mnt && mount -t tmpfs none /mnt && grep " /mnt " /proc/mounts', {
        capAdd: ['SYS_ADMIN'],
        securityOpt: ['seccomp=unconfined'],
      });
      expect(r.out).toMatch(/^none \/mnt tmpfs /);
    },
    TEST_TIMEOUT,
  );
});
