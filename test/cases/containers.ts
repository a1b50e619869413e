// Container cases written once and run against each backend (test/native/containers.test.ts and
// test/emu/containers.test.ts): PID 1 and hostname, exec's namespaces compared by inode, copy-up,
// whiteouts and opaque directories in the upper layer, bind and anonymous volumes, stop, rm. Every
// case drives the real `strata` CLI; what it checks "from outside" it reads with a shell on the
// machine the containers run on: the host for native, the v86 guest for emu.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Result } from '../helpers/strata.js';

export interface Target {
  name: 'native' | 'emu';
  /** The store root on the host (metadata, volumes' _data: always the host's). */
  storeRoot: string;
  /** The CLI against this target's store and backend. */
  strata(args: string[]): Result;
  /** sh on the machine the containers run on (the host, or the guest); fails on a non-zero exit. */
  sh(script: string): string;
  /** Whether a directory of an upper layer is opaque (trusted.overlay.opaque=y). */
  opaque(dir: string): boolean;
  /** Where a host directory given to -v (or a volume's _data) is seen on that machine. */
  sourceOnMachine(hostPath: string): string;
  /** The store directory on that machine that holds overlay2/ (mount points below it are the store's). */
  layerRoot: string;
  /** The parent cgroup of the containers' cgroups on that machine. */
  cgroupParent: string;
  /** The namespaces a container gets (the guest's busybox has no cgroup namespace option). */
  namespaces: string[];
  /** Time bound for a `stop -t 1` of a PID 1 that ignores SIGTERM. */
  stopBoundMs: number;
}

function ok(t: Target, args: string[]): string {
  const r = t.strata(args);
  if (r.code !== 0)
    throw new Error(`strata ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

function graph(t: Target, id: string): { upper: string; lowers: string[] } {
  const data = JSON.parse(ok(t, ['inspect', '-f', '{{json .GraphDriver.Data}}', id])) as Record<
    string,
    string
  >;
  return { upper: data.UpperDir!, lowers: data.LowerDir!.split(':') };
}

function mountPoints(t: Target): string[] {
  return t
    .sh('cat /proc/self/mountinfo')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4]!);
}

/**
 * What a store holds apart from images: must be empty again once every container is gone. Layers,
 * mounts and cgroups are looked at on the containers' machine, metadata on the host.
 */
function containerLeftovers(t: Target): { dirs: string[]; mounts: string[]; cgroups: string[] } {
  const root = t.storeRoot;
  const o2 = `${t.layerRoot}/overlay2`;
  // Directories that are not committed image layers, and dangling l/ links.
  const dirs = t
    .sh(
      `cd ${o2} && for d in *; do [ "$d" = l ] && continue; ` +
        `case "$d" in *[!a-f0-9]* | ?????????????????????????????????????????????????????????????????*) echo "$d"; continue;; esac; ` +
        `[ -e "$d/committed" ] && [ ! -e "$d/merged" ] || echo "$d"; done; ` +
        `for l in l/*; do [ -e "$l" ] || [ ! -L "$l" ] || echo "dangling $l"; done`,
    )
    .split('\n')
    .filter(Boolean);
  const containers = fs.readdirSync(path.join(root, 'containers')).filter((d) => d !== '.names');
  const names = fs.readdirSync(path.join(root, 'containers', '.names'));
  const cgroups = t
    .sh(`ls ${t.cgroupParent} 2>/dev/null | grep -E '^[a-f0-9]{64}$' || true`)
    .split('\n')
    .filter(Boolean)
    .filter((c) => containers.includes(c) || dirs.some((d) => d.startsWith(c)));
  return {
    dirs: [...dirs, ...containers.map((c) => `containers/${c}`), ...names.map((n) => `names/${n}`)],
    mounts: mountPoints(t).filter((m) => m.startsWith(`${o2}/`)),
    cgroups,
  };
}

/** `t` gives the target the file made in its beforeAll; `timeout` is each test's limit. */
export function containerCases(t: () => Target, testTimeout: number): void {
  const timeout = (): number => testTimeout;

  describe('namespaces (shared cases)', () => {
    it(
      'runs the payload as PID 1 with its own hostname',
      () => {
        const out = ok(t(), [
          'run',
          '--rm',
          '--hostname',
          'box1',
          'busybox',
          'sh',
          '-c',
          'echo $$; hostname; cat /etc/hostname',
        ]);
        expect(out.split('\n')).toEqual(['1', 'box1', 'box1', '']);
        expect(t().sh('cat /proc/sys/kernel/hostname').trim()).not.toBe('box1');
      },
      timeout(),
    );

    it(
      'lands exec in the same namespaces, and State.Pid is the PID of PID 1 outside',
      () => {
        const id = ok(t(), ['run', '-d', 'busybox', 'sleep', '1000']).trim();
        try {
          const pid = Number(ok(t(), ['inspect', '--format', '{{.State.Pid}}', id]).trim());
          expect(pid).toBeGreaterThan(1);
          expect(t().sh(`tr '\\0' '|' < /proc/${pid}/cmdline`)).toBe('sleep|1000|');
          const kinds = t().namespaces;
          const fromOutside = t()
            .sh(kinds.map((k) => `readlink /proc/${pid}/ns/${k}`).join(';'))
            .trim()
            .split('\n');
          const inside = ok(t(), [
            'exec',
            id,
            'sh',
            '-c',
            kinds.map((k) => `readlink /proc/self/ns/${k}`).join(';'),
          ])
            .trim()
            .split('\n');
          expect(inside).toEqual(fromOutside);
          // ...and none of them is the outside shell's.
          const own = t()
            .sh(kinds.map((k) => `readlink /proc/self/ns/${k}`).join(';'))
            .trim()
            .split('\n');
          for (const [i, k] of kinds.entries()) expect([k, own[i]]).not.toEqual([k, fromOutside[i]]);
          // exec'd processes get fresh PIDs inside the container's PID namespace; PID 1 is the payload.
          expect(
            ok(t(), ['exec', id, 'sh', '-c', 'echo $$; cat /proc/1/cmdline | tr "\\0" " "']).split('\n')[1],
          ).toBe('sleep 1000 ');
          expect(ok(t(), ['exec', '-e', 'X=1', '-w', '/tmp', id, 'sh', '-c', 'echo $X $(pwd)']).trim()).toBe(
            '1 /tmp',
          );
          expect(t().strata(['exec', id, 'sh', '-c', 'exit 7']).code).toBe(7);
        } finally {
          ok(t(), ['rm', '-f', id]);
        }
      },
      timeout(),
    );
  });

  describe('copy-on-write and volumes (shared cases)', () => {
    it(
      'copies a modified lower file up, leaves whiteouts for deletions and makes replaced dirs opaque',
      () => {
        const id = ok(t(), [
          'create',
          'busybox',
          'sh',
          '-c',
          'echo changed >> /etc/passwd; rm /bin/vi; rm -rf /var/spool && mkdir -p /var/spool && touch /var/spool/new; echo fresh > /added',
        ]).trim();
        // A failed expectation must not leave the container for the next case's leftover check.
        try {
          const { upper, lowers } = graph(t(), id);
          const base = lowers[lowers.length - 1]!;
          const lowerPasswd = t().sh(`cat ${base}/etc/passwd`);
          expect(t().strata(['start', '-a', id]).code).toBe(0);

          // The change landed in the upper dir; the image layer is untouched.
          expect(t().sh(`cat ${upper}/etc/passwd`)).toBe(lowerPasswd + 'changed\n');
          expect(t().sh(`cat ${base}/etc/passwd`)).toBe(lowerPasswd);
          expect(t().sh(`cat ${upper}/added`)).toBe('fresh\n');

          // A deleted lower file is a whiteout: a character device 0/0 in the upper dir.
          expect(t().sh(`stat -c '%F %t:%T' ${upper}/bin/vi`)).toBe('character special file 0:0\n');
          expect(t().sh(`test -L ${base}/bin/vi && echo link`)).toBe('link\n');

          // A directory removed and made again hides the lower one entirely: opaque.
          expect(t().opaque(`${upper}/var/spool`)).toBe(true);
          expect(t().opaque(`${upper}/etc`)).toBe(false);
          expect(t().sh(`ls -A ${upper}/var/spool`)).toBe('new\n');
          expect(t().sh(`ls -A ${base}/var/spool`)).toBe('mail\n');

          // And a second container from the same image sees the original files.
          expect(
            ok(t(), ['run', '--rm', 'busybox', 'sh', '-c', 'ls /var/spool; test -e /bin/vi && echo vi']),
          ).toBe('mail\nvi\n');
        } finally {
          ok(t(), ['rm', '-f', '-v', id]);
        }
      },
      timeout(),
    );

    it(
      'binds a host dir and an anonymous volume, neither in the upper dir',
      () => {
        const hostDir = fs.mkdtempSync(path.join(t().storeRoot, 'bind-'));
        fs.writeFileSync(path.join(hostDir, 'from-host'), 'host\n');
        const id = ok(t(), [
          'create',
          '-v',
          `${hostDir}:/data`,
          '-v',
          '/anon',
          'busybox',
          'sh',
          '-c',
          'cat /data/from-host; echo in > /data/from-ctr; echo anon > /anon/file',
        ]).trim();
        // A failed expectation must not leave the container for the next case's leftover check.
        try {
          const r = t().strata(['start', '-a', id]);
          expect(r.stdout).toBe('host\n');
          expect(t().sh(`cat ${t().sourceOnMachine(hostDir)}/from-ctr`)).toBe('in\n');

          const mounts = JSON.parse(ok(t(), ['inspect', '-f', '{{json .Mounts}}', id])) as Array<
            Record<string, string | boolean>
          >;
          const anon = mounts.find((m) => m.Destination === '/anon')!;
          expect(anon.Type).toBe('volume');
          expect(anon.Source).toBe(`${t().storeRoot}/volumes/${anon.Name}/_data`);
          expect(t().sh(`cat ${t().sourceOnMachine(anon.Source as string)}/file`)).toBe('anon\n');
          expect(ok(t(), ['volume', 'ls', '-q'])).toContain(anon.Name as string);

          const { upper } = graph(t(), id);
          // Only the (empty) mount points exist in the upper layer, as the write-ups point out.
          expect(t().sh(`ls -A ${upper}/data; echo -; ls -A ${upper}/anon`)).toBe('-\n');

          // A volume in use cannot be removed; rm -v takes the anonymous one along.
          expect(t().strata(['volume', 'rm', anon.Name as string]).stderr).toContain('volume is in use');
          ok(t(), ['rm', '-v', id]);
          expect(fs.existsSync(anon.Source as string)).toBe(false);
          expect(t().sh(`cat ${t().sourceOnMachine(hostDir)}/from-host`)).toBe('host\n');
        } finally {
          t().strata(['rm', '-f', '-v', id]); // already gone when all went well
        }
      },
      timeout(),
    );
  });

  describe('stop and rm (shared cases)', () => {
    it(
      "stops a sh -c 'sleep 1000' (PID 1 ignores SIGTERM) within its timeout, then SIGKILL",
      () => {
        const id = ok(t(), ['run', '-d', 'busybox', 'sh', '-c', 'sleep 1000']).trim();
        // A failed expectation must not leave it running for the next case's leftover check.
        try {
          const t0 = Date.now();
          expect(ok(t(), ['stop', '-t', '1', id])).toBe(`${id}\n`);
          const took = Date.now() - t0;
          expect(took).toBeGreaterThanOrEqual(1000);
          expect(took).toBeLessThan(t().stopBoundMs);
          expect(
            ok(t(), ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}', id]).trim(),
          ).toBe('exited 137 false');
          // The rootfs is unmounted once the container is down.
          expect(mountPoints(t()).filter((m) => m.includes(id))).toEqual([]);
        } finally {
          ok(t(), ['rm', '-f', id]);
        }
      },
      timeout(),
    );

    it(
      'refuses to remove a running container unless forced, and rm -f cleans it all',
      () => {
        const id = ok(t(), ['run', '-d', 'busybox', 'sleep', '1000']).trim();
        const r = t().strata(['rm', id]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(
          'container is running: stop the container before removing or force remove',
        );
        ok(t(), ['rm', '-f', id]);
        expect(containerLeftovers(t())).toEqual({ dirs: [], mounts: [], cgroups: [] });
      },
      timeout(),
    );
  });
}
