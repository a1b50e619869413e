// Default confinement (issue 9, docs/security.md): capabilities, no_new_privs, masked and read-only
// paths, seccomp, --privileged, and the known escape classes. Every test runs a real container.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REPO,
  destroyRoot,
  ok,
  requireNativePrerequisites,
  strata,
  strataAsync,
  tempRoot,
} from '../helpers/strata.js';
import { compileSeccomp, effectiveCapabilities, parseSeccompProfile } from '../../shared/src/security.js';

/** Docker's default capability set (the 14 it keeps) as /proc/PID/status prints it. */
const DOCKER_DEFAULT_CAPS = '00000000a80425fb';
const SHIM = path.join(REPO, 'build', 'strata-shim');

let root: string;
let scratch: string;
beforeAll(() => {
  requireNativePrerequisites();
  root = tempRoot('sec');
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-sec-files-'));
  ok(root, ['run', '--rm', 'busybox', 'true']); // builds the base image once
});
afterAll(() => {
  destroyRoot(root);
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** The fields of /proc/self/status in a container run with `flags`. */
function procStatus(flags: string[] = []): Record<string, string> {
  const out = ok(root, ['run', '--rm', ...flags, 'busybox', 'cat', '/proc/self/status']);
  return Object.fromEntries(
    out
      .split('\n')
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
}

function hostStatus(field: string): string {
  const line = fs
    .readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(field + ':'));
  return line!.split(':')[1]!.trim();
}

function sh(flags: string[], script: string) {
  return strata(root, ['run', '--rm', ...flags, 'busybox', 'sh', '-c', script]);
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('capabilities', () => {
  it("keeps exactly Docker's 14 default capabilities in every set, none inheritable or ambient", () => {
    const st = procStatus();
    expect(st.CapEff).toBe(DOCKER_DEFAULT_CAPS);
    expect(st.CapPrm).toBe(DOCKER_DEFAULT_CAPS);
    expect(st.CapBnd).toBe(DOCKER_DEFAULT_CAPS);
    expect(st.CapInh).toBe('0000000000000000');
    expect(st.CapAmb).toBe('0000000000000000');
    expect(st.NoNewPrivs).toBe('1');
    expect(st.Seccomp).toBe('2'); // filter mode
  });

  it('--cap-add and --cap-drop take names with or without CAP_, any case, and ALL', () => {
    // SYS_ADMIN is bit 21.
    expect(procStatus(['--cap-add', 'SYS_ADMIN']).CapEff).toBe('00000000a82425fb');
    expect(procStatus(['--cap-drop', 'cap_chown', '--cap-drop', 'NET_RAW']).CapEff).toBe('00000000a80405fa');
    expect(procStatus(['--cap-drop', 'ALL']).CapEff).toBe('0000000000000000');
    expect(procStatus(['--cap-drop', 'all', '--cap-add', 'CHOWN']).CapEff).toBe('0000000000000001');
    const bad = strata(root, ['run', '--rm', '--cap-add', 'NOT_A_CAP', 'busybox', 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('invalid capability: NOT_A_CAP');
  });

  it("resolves the user in the rootfs on every run, while the shim already goes on with PID 1's setup", () => {
    // The CLI reads /etc/passwd and /etc/group while the shim clones PID 1 and pivots (its root
    // changes then): through the rootfs fd the shim holds for it, never its moving root.
    for (let i = 0; i < 15; i++) {
      expect(ok(root, ['run', '--rm', 'busybox', 'id'])).toBe(
        'uid=0(root) gid=0(root) groups=0(root),10(wheel)\n',
      );
      expect(ok(root, ['run', '--rm', '-u', 'mail', 'busybox', 'id'])).toBe(
        'uid=8(mail) gid=8(mail) groups=8(mail)\n',
      );
    }
  });

  it('gives a non-root --user no capabilities (bounding set still the default) and its groups', () => {
    const st = procStatus(['-u', '1000:1000']);
    expect(st.CapEff).toBe('0000000000000000');
    expect(st.CapPrm).toBe('0000000000000000');
    expect(st.CapBnd).toBe(DOCKER_DEFAULT_CAPS);
    expect(st.Uid).toMatch(/^1000\s+1000\s+1000\s+1000$/);
    // Supplementary groups from the image's /etc/group, after the capability changes.
    expect(ok(root, ['run', '--rm', 'busybox', 'id'])).toBe(
      'uid=0(root) gid=0(root) groups=0(root),10(wheel)\n',
    );
    const id = ok(root, [
      'create',
      '-u',
      'mail',
      'busybox',
      'sh',
      '-c',
      'id; grep CapEff /proc/self/status',
    ]).trim();
    const upper = JSON.parse(ok(root, ['inspect', '-f', '{{json .GraphDriver.Data}}', id])) as {
      UpperDir: string;
    };
    const lower = ok(root, ['run', '--rm', 'busybox', 'cat', '/etc/group']);
    fs.mkdirSync(path.join(upper.UpperDir, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(upper.UpperDir, 'etc/group'), lower.replace('audio:x:29:', 'audio:x:29:mail'));
    const out = ok(root, ['start', '-a', id]);
    expect(out).toBe('uid=8(mail) gid=8(mail) groups=8(mail),29(audio)\nCapEff:\t0000000000000000\n');
    ok(root, ['rm', id]);
  });

  it('mount fails without CAP_SYS_ADMIN and works with --cap-add SYS_ADMIN or --privileged', () => {
    const script = 'mkdir -p /mnt && mount -t tmpfs none /mnt && grep " /mnt " /proc/mounts';
    const denied = sh([], script);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/permission denied|Operation not permitted/i);
    expect(sh(['--cap-add', 'SYS_ADMIN'], script).stdout).toContain('none /mnt tmpfs');
    expect(sh(['--privileged'], script).stdout).toContain('none /mnt tmpfs');
  });
});

describe('masked and read-only paths', () => {
  it("masks Docker's paths and makes /proc/sys and friends read-only", () => {
    const hostname = fs.readFileSync('/proc/sys/kernel/hostname', 'utf8');
    // /proc/kcore is masked with /dev/null (or absent from this kernel): no kernel memory either way.
    const kcore = sh([], 'head -c 16 /proc/kcore | wc -c');
    expect(kcore.stdout.trim()).toBe('0');
    // A masked file that exists here and has content on the host reads empty inside.
    expect(fs.readFileSync('/proc/timer_list', 'utf8').length).toBeGreaterThan(0);
    expect(sh([], 'wc -c < /proc/timer_list').stdout.trim()).toBe('0');
    expect(sh([], 'ls -A /sys/firmware | wc -l').stdout.trim()).toBe('0');
    const write = sh([], 'echo pwned > /proc/sys/kernel/hostname');
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/Read-only file system/);
    expect(fs.readFileSync('/proc/sys/kernel/hostname', 'utf8')).toBe(hostname);
    const mounts = sh([], 'cat /proc/mounts').stdout;
    for (const p of ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys'])
      expect(mounts).toMatch(new RegExp(`^proc ${p} proc ro,nosuid,nodev,noexec`, 'm'));
    for (const p of ['/proc/acpi', '/sys/firmware'])
      expect(mounts).toMatch(new RegExp(`^tmpfs ${p} tmpfs ro`, 'm'));
  });

  it('mounts --tmpfs (nosuid,nodev,noexec and the given options), writable under --read-only', () => {
    const r = sh(
      ['--read-only', '--tmpfs', '/scratch:size=1m,mode=755'],
      'grep " /scratch " /proc/mounts; touch /x; echo hi > /scratch/f && cat /scratch/f',
    );
    expect(r.stdout).toMatch(
      /^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=755 0 0\n/,
    );
    expect(r.stdout).toContain('hi\n');
    expect(r.stderr).toContain('Read-only file system');
  });
});

describe('seccomp', () => {
  it('blocks what the default profile leaves out with EPERM, even where no capability is needed', () => {
    // An unprivileged user namespace needs no capability: only seccomp stops it.
    const r = sh([], 'unshare -U true');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Operation not permitted');
    expect(sh(['--security-opt', 'seccomp=unconfined'], 'unshare -U true && echo unshared').stdout).toBe(
      'unshared\n',
    );
    expect(procStatus(['--security-opt', 'seccomp=unconfined']).Seccomp).toBe('0');
  });

  it("accepts a profile file in Docker's JSON format (actions, errnoRet, args, includes)", () => {
    const file = path.join(scratch, 'profile.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
        syscalls: [
          { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
          // chmod only to mode 0700 is refused (an argument condition).
          { names: ['chmod'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 448, op: 'SCMP_CMP_EQ' }] },
          {
            names: ['fchmodat'],
            action: 'SCMP_ACT_ERRNO',
            args: [{ index: 2, value: 448, op: 'SCMP_CMP_EQ' }],
          },
          // Applies only with a capability the container does not have.
          { names: ['unlink', 'unlinkat'], action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_SYS_ADMIN'] } },
        ],
      }),
    );
    // Compiled to BPF once, kept by the hash of the compiled text (docs/security.md).
    const compiled = compileSeccomp(
      parseSeccompProfile(fs.readFileSync(file, 'utf8')),
      effectiveCapabilities([], [], false),
    );
    const bpf = `/run/strata/seccomp/${createHash('sha256').update(compiled).digest('hex')}.bpf`;
    fs.rmSync(bpf, { force: true });
    const r = sh(
      ['--security-opt', `seccomp=${file}`],
      'mkdir /d; chmod 700 /tmp; echo chmod700=$?; chmod 755 /tmp; echo chmod755=$?; touch /f; rm /f; echo rm=$?',
    );
    expect(r.stderr).toContain("mkdir: can't create directory '/d': Permission denied");
    expect(r.stdout).toContain('chmod700=1\nchmod755=0\nrm=0\n');
    expect(fs.readFileSync(bpf).subarray(0, 4).toString()).toBe('bpf\n');
    expect((fs.statSync(bpf).size - 4) % 8).toBe(0); // struct sock_filter[]
    // The profile is stored with the container (as Docker does): the file is not needed at start.
    const id = ok(root, ['create', '--security-opt', `seccomp=${file}`, 'busybox', 'mkdir', '/d']).trim();
    fs.rmSync(file);
    expect(strata(root, ['start', '-a', id]).code).toBe(1);
    ok(root, ['rm', id]);
    const bad = strata(root, [
      'run',
      '--rm',
      '--security-opt',
      'seccomp=/no/such/profile.json',
      'busybox',
      'true',
    ]);
    expect(bad.code).toBe(125);
  });
});

describe('--privileged', () => {
  it('lifts everything: all capabilities, no no_new_privs, no seccomp, no masks, host devices', () => {
    const st = procStatus(['--privileged']);
    expect(st.CapEff).toBe(hostStatus('CapBnd'));
    expect(st.CapBnd).toBe(hostStatus('CapBnd'));
    expect(st.NoNewPrivs).toBe('0');
    expect(st.Seccomp).toBe('0');
    expect(Number(sh(['--privileged'], 'wc -c < /proc/timer_list').stdout.trim())).toBeGreaterThan(0);
    const hostBlock = fs.readdirSync('/dev').find((d) => fs.statSync(path.join('/dev', d)).isBlockDevice());
    expect(hostBlock).toBeDefined();
    expect(sh(['--privileged'], `test -b /dev/${hostBlock} && echo present`).stdout).toBe('present\n');
    expect(sh([], `test -e /dev/${hostBlock} || echo absent`).stdout).toBe('absent\n');
  });
});

describe('--init and exec are confined too', () => {
  it('confines PID 1 of --init as the payload', () => {
    const r = ok(root, [
      'run',
      '--rm',
      '--init',
      'busybox',
      'sh',
      '-c',
      'grep -h -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/1/status /proc/self/status',
    ]);
    expect(r).toBe(`CapEff:\t${DOCKER_DEFAULT_CAPS}\nNoNewPrivs:\t1\nSeccomp:\t2\n`.repeat(2));
  });

  it('gives an exec the container capabilities, no_new_privs and seccomp', () => {
    const id = ok(root, ['run', '-d', 'busybox', 'sleep', '60']).trim();
    try {
      const r = ok(root, [
        'exec',
        id,
        'sh',
        '-c',
        'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; unshare -U true 2>&1; true',
      ]);
      expect(r).toContain(`CapEff:\t${DOCKER_DEFAULT_CAPS}\nNoNewPrivs:\t1\nSeccomp:\t2\n`);
      expect(r).toContain('Operation not permitted');
    } finally {
      strata(root, ['rm', '-f', id]);
    }
  });
});

describe('escape classes', () => {
  it('CVE-2019-5736: the runtime binary cannot be reached or written through /proc/PID/exe', async () => {
    const before = { hash: sha256(SHIM), mtime: fs.statSync(SHIM).mtimeMs };
    // The payload's /proc/self/exe is the payload, never the shim that started it.
    expect(ok(root, ['run', '--rm', 'busybox', 'readlink', '/proc/self/exe'])).toBe('/bin/busybox\n');
    // With --init, PID 1 stays the shim: not dumpable, so its exe link is out of reach...
    const init = sh(['--init'], 'readlink /proc/1/exe; echo pwned > /proc/1/exe');
    expect(init.stdout).toBe('');
    expect(init.stderr).toContain('Permission denied');
    // ...and with CAP_SYS_PTRACE, the running binary cannot be opened for writing.
    expect(sh(['--init', '--cap-add', 'SYS_PTRACE'], 'echo pwned > /proc/1/exe').stderr).toContain(
      'Text file busy',
    );

    // An attacker inside watches /proc for shims entering the container (strata exec) and tries to
    // open their exe for writing; every exec must still run and the binary stay unchanged.
    const attacker =
      'while :; do for p in /proc/[0-9]*; do e=$(readlink $p/exe 2>/dev/null); case "$e" in *strata-shim*) echo "saw $p"; ' +
      '(echo pwned > $p/exe) 2>/dev/null && echo WROTE;; esac; done; done';
    const id = ok(root, ['run', '-d', 'busybox', 'sh', '-c', attacker]).trim();
    try {
      const execs = await Promise.all(
        Array.from({ length: 8 }, () => strataAsync(root, ['exec', id, 'true'])),
      );
      expect(execs.map((e) => e.code)).toEqual(Array(8).fill(0));
      const logs = ok(root, ['logs', id]);
      expect(logs).not.toContain('WROTE');
      expect(logs).not.toContain('saw');
    } finally {
      strata(root, ['rm', '-f', id]);
    }
    // Still an ELF binary with no "pwned" written into it; byte-identical unless a concurrent build
    // (another test run's global setup) replaced it meanwhile.
    const after = fs.readFileSync(SHIM);
    expect(after.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(after.includes('pwned')).toBe(false);
    if (fs.statSync(SHIM).mtimeMs === before.mtime) expect(sha256(SHIM)).toBe(before.hash);
  });

  it('exec racing the container (CVE-2016-9962 class): a process inside cannot reach the joining exec', async () => {
    // A static helper inside the container polls /proc for new PIDs while `strata exec` runs again
    // and again, and tries each one's exe, cwd, root, fds and PTRACE_SEIZE (fixtures/exec-racer.c).
    // The shim is not dumpable from its first instruction on: built without that, this finds its
    // exe, a host fd and a ptrace attach (tried: LEAK lines). Before the shim, Node's forked child
    // has every capability, more than the container: the kernel refuses access for that.
    const racer = path.join(scratch, 'exec-racer');
    const cc = spawnSync(
      'cc',
      ['-O2', '-static', '-o', racer, path.join(REPO, 'test/native/fixtures/exec-racer.c')],
      {
        encoding: 'utf8',
      },
    );
    if (cc.status !== 0) throw new Error(`building the exec racer failed: ${cc.stderr}`);
    const id = ok(root, ['run', '-d', '-v', `${racer}:/racer:ro`, 'busybox', '/racer', '300']).trim();
    try {
      for (let i = 0; i < 200 && !ok(root, ['logs', id]).includes('ready'); i++) sleepMs(50);
      expect(ok(root, ['logs', id])).toBe('ready\n');
      const execs = 20;
      const codes: number[] = [];
      // Two at a time, as concurrent `docker exec`s would. The payload lives 0.1 s so that a racer
      // slowed by a loaded machine still sees every exec (a bare `true` was missed once in CI).
      for (let i = 0; i < execs; i += 2)
        for (const r of await Promise.all([0, 1].map(() => strataAsync(root, ['exec', id, 'sleep', '0.1']))))
          codes.push(r.code);
      expect(codes).toEqual(Array(execs).fill(0));
      ok(root, ['exec', id, 'touch', '/tmp/stop']);
      for (let i = 0; i < 200 && !ok(root, ['logs', id]).includes('seen'); i++) sleepMs(50);
      const logs = ok(root, ['logs', id]);
      expect(logs).not.toContain('LEAK');
      const m = /seen (\d+) blocked (\d+) seized (\d+)/.exec(logs);
      expect(m).not.toBeNull();
      // It saw every exec's process, and reached some while they were still the runtime.
      expect(Number(m![1])).toBeGreaterThanOrEqual(execs);
      expect(Number(m![2])).toBeGreaterThan(0);
      console.log(`exec racer: ${m![0]} over ${execs} execs`);
    } finally {
      strata(root, ['rm', '-f', id]);
    }
  }, 300_000);

  it('CVE-2024-21626: no host fd reaches the container and the cwd is inside it, for run and exec', () => {
    const id = ok(root, [
      'run',
      '-d',
      '-w',
      '/tmp',
      'busybox',
      'sh',
      '-c',
      'ls /proc/self/fd; readlink /proc/self/cwd; sleep 60',
    ]).trim();
    try {
      // Detached: stdin is /dev/null, stdout and stderr the log; ls's own directory fd is the 3.
      for (let i = 0; i < 50 && !ok(root, ['logs', id]).includes('/tmp'); i++) sleepMs(50);
      expect(ok(root, ['logs', id])).toBe('0\n1\n2\n3\n/tmp\n');
      expect(ok(root, ['exec', id, 'ls', '/proc/self/fd'])).toBe('0\n1\n2\n3\n');
      expect(ok(root, ['exec', id, 'readlink', '/proc/self/cwd'])).toBe('/tmp\n'); // the WorkingDir, as Docker
      expect(ok(root, ['exec', id, 'readlink', '/proc/1/cwd'])).toBe('/tmp\n');
      // Every fd of PID 1 resolves inside the container (nothing opened on the host side).
      const fds = ok(root, ['exec', id, 'sh', '-c', 'for f in /proc/1/fd/*; do readlink $f; done']);
      expect(fds.split('\n').filter(Boolean).length).toBe(3);
      // 0 is /dev/null, 1 and 2 the log file (its host path shows, but it is only the log).
      expect(fds).not.toMatch(/overlay2|\/sys\/fs\/cgroup|ns:|pipe:|socket:/);
    } finally {
      strata(root, ['rm', '-f', id]);
    }
  });
});
