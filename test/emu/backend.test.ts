// The emu backend driven by the core's Engine, in-process: one guest for the whole file (restored in
// beforeAll from the snapshot), the embedded busybox image unpacked in it, containers run inside it.
// Fails (never skips) when the guest image is missing. Few containers, many checks each: every
// busybox command costs a fork in the emulated CPU, so a container start takes seconds.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EmuBackend } from '../../backend-emu/src/index.ts';
import type { GuestMachine } from '../../backend-emu/src/index.ts';
import { Engine } from '../../shared/src/engine/engine.ts';
import type { RunOptions } from '../../shared/src/engine/run-options.ts';
import { Store } from '../../shared/src/store/index.ts';
import { StrataError } from '../../shared/src/errors.ts';
import { readTar } from '../../shared/src/tar/index.ts';
import { buildBusyboxImage } from '../../images/busybox/build.ts';
import { captureOutput, runOptions as opts } from './engine-fixture.ts';

let root: string;
let backend: EmuBackend;
let engine: Engine;
let guest: GuestMachine;
let setupError: unknown = null;
/** A container start is tens of busybox forks in the emulated CPU: seconds, minutes under heavy load. */
const TEST_TIMEOUT = 300_000;

/** Runs `args` in a container attached, capturing what it writes to process.stdout. */
async function runAttached(
  args: string[],
  o: Partial<RunOptions> = {},
): Promise<{ code: number; out: string }> {
  const rec = await engine.create(opts(args, o));
  try {
    const { value: code, out } = await captureOutput(async () => {
      const { exit } = await engine.start(rec, { kind: 'attach', tty: false, stdin: false });
      return (await exit!).exitCode;
    });
    return { code, out };
  } finally {
    await engine.remove(rec, { force: true, volumes: true });
  }
}

/** An exec whose stdout is captured. */
async function execOut(
  rec: Awaited<ReturnType<Engine['create']>>,
  args: string[],
): Promise<{ code: number; out: string }> {
  const spec = await engine.spec(rec);
  const { value: code, out } = await captureOutput(() =>
    backend.runtime.exec(
      spec,
      rec.State.Pid,
      { args, env: rec.Config.Env ?? [], cwd: '/', user: '', terminal: false },
      { kind: 'attach', tty: false, stdin: false },
    ),
  );
  return { code, out };
}

async function inGuest(script: string): Promise<string> {
  const r = await guest.run(script, { timeoutMs: 30_000 });
  expect(r.stderr).toBe('');
  return r.stdout;
}

beforeAll(async () => {
  try {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-emu-backend-'));
    backend = new EmuBackend();
    await backend.checkPrerequisites();
    engine = new Engine(new Store(root), backend);
    let t = performance.now();
    guest = await backend.guest();
    console.log(`guest restored in ${Math.round(performance.now() - t)} ms`);
    t = performance.now();
    await buildBusyboxImage(engine.store, backend);
    console.log(
      `busybox image built and its layer applied in the guest in ${Math.round(performance.now() - t)} ms`,
    );
  } catch (e) {
    setupError = e;
  }
}, 300_000);

beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  await backend?.close();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

describe('emu backend (Engine + EmuBackend, in the guest)', () => {
  it(
    'unpacks the busybox layer in the guest, overlay2 layout, i386 busybox in place',
    async () => {
      const image = engine.store.images.getImage(engine.store.images.resolve('busybox')!);
      const [layer] = engine.store.images.layersOf(image);
      const p = await backend.snapshots.paths(layer!.cacheId);
      expect(p.diffDir).toBe(`/var/lib/strata/overlay2/${layer!.cacheId}/diff`);
      const out = await inGuest(
        `cd /var/lib/strata/overlay2 && cat ${layer!.cacheId}/link && echo && readlink l/${p.link} && ` +
          `ls ${layer!.cacheId} && ${p.diffDir}/bin/busybox echo runs && readlink ${p.diffDir}/bin/sh`,
      );
      expect(out).toBe(`${p.link}\n../${layer!.cacheId}/diff\ncommitted\ndiff\nlink\nruns\n/bin/busybox\n`);
    },
    TEST_TIMEOUT,
  );

  it(
    'takes over the busybox layer baked into the saved machine; an unpack of the same tar gives the same tree',
    async () => {
      const image = engine.store.images.getImage(engine.store.images.resolve('busybox')!);
      const [layer] = engine.store.images.layersOf(image);
      const baked = guest.meta.baked;
      // snapshot.mjs built the tar as images/busybox/build.ts does: same diff ID, so no unpack.
      expect(baked.map((b) => b.diffId)).toEqual([layer!.diffId]);
      const taken = await backend.snapshots.paths(layer!.cacheId);
      expect(taken.link).toBe(baked[0]!.link);
      expect(await inGuest(`[ -e /var/lib/strata/overlay2/${baked[0]!.dir} ] || echo gone`)).toBe('gone\n');
      // The same tar again: the baked layer is taken, so this one is unpacked from the 9p share.
      const again = 'f'.repeat(64);
      const fresh = await backend.snapshots.apply(again, null, engine.store.blobs.stream(layer!.diffId));
      try {
        expect(fresh.link).not.toBe(taken.link);
        const list = (dir: string) =>
          `cd ${dir} && find . | sort | xargs stat -c '%n %f %u %g %s %Y' && ` +
          `find . -type f | sort | xargs sha256sum && echo ::`;
        const [a, b] = (await inGuest(`${list(taken.diffDir)}\n${list(fresh.diffDir)}`)).split('::\n');
        // busybox tar keeps the mtimes of regular files only (directories and symlinks get the time
        // of the unpack, as with every emu apply) and the substituted busybox is written then too.
        const norm = (t = '') =>
          t.replace(/^(\S+ [4a][0-9a-f]{3} .*) \d+$/gm, '$1').replace(/^(\.\/bin\/busybox .*) \d+$/m, '$1');
        expect(a!.split('\n').length).toBeGreaterThan(250);
        expect(norm(a)).toBe(norm(b));
      } finally {
        await backend.snapshots.remove(again);
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'runs busybox attached: PID 1, its hostname, the overlay as /, exact env, output streamed',
    async () => {
      const t = performance.now();
      const r = await runAttached(
        [
          'sh',
          '-c',
          'echo pid=$$; hostname; grep " / / " /proc/self/mountinfo; tr "\\0" "\\n" < /proc/1/environ | sort; exit 3',
        ],
        { hostname: 'emu-box', env: ['FOO=bar baz'] },
      );
      console.log(`attached run (create, start, exit, rm) in ${Math.round(performance.now() - t)} ms`);
      expect(r.code).toBe(3);
      const lines = r.out.split('\n');
      expect(lines[0]).toBe('pid=1');
      expect(lines[1]).toBe('emu-box');
      // The payload's environment is exactly the spec's (what sh itself exports comes after exec).
      expect(lines[2]).toMatch(
        / \/ \/ rw,relatime - overlay overlay rw,lowerdir=\/var\/lib\/strata\/overlay2\/l\/[A-Z0-9]{26}:/,
      );
      expect(lines.slice(3).filter(Boolean)).toEqual([
        'FOO=bar baz',
        'HOSTNAME=emu-box',
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      ]);
    },
    TEST_TIMEOUT,
  );

  it(
    "carries a snapshot's preparation and removal in the next request, in order, and names failed work",
    async () => {
      const dir = (id: string) => `/var/lib/strata/overlay2/${id}`;
      const rec = await engine.create(opts(['true']));
      // create made no request: the next one (any) sees both snapshots prepared.
      const i0 = guest.instructions;
      // (ls sorts: "-init" before "/merged")
      expect(await inGuest(`ls -d ${dir(rec.Id)}/merged ${dir(`${rec.Id}-init`)}/diff/etc/hostname`)).toBe(
        `${dir(`${rec.Id}-init`)}/diff/etc/hostname\n${dir(rec.Id)}/merged\n`,
      );
      // v86's instruction counter moves with guest work (bench/emu reports it).
      expect((guest.instructions - i0) >>> 0).toBeGreaterThan(100_000);
      await engine.remove(rec, { force: true, volumes: true });
      expect(await inGuest(`ls -d ${dir(rec.Id)} ${dir(`${rec.Id}-init`)} 2>/dev/null; true`)).toBe('');
      // Work that fails fails the request that carries it (its own script does not run), naming it.
      guest.defer(
        'making a test file',
        ['/bin/strata-confine', 'fs'],
        ['--write', '/no/such/dir/f', '644', 'x'],
      );
      const err = await guest.run('echo must-not-run').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toBe(
        'making a test file failed: strata-confine fs: write /no/such/dir/f: No such file or directory',
      );
      expect(await inGuest('echo next')).toBe('next\n');
    },
    TEST_TIMEOUT,
  );

  it(
    'fails with 127 for a missing command, as native',
    async () => {
      const rec = await engine.create(opts(['no-such-command']));
      try {
        const err = await engine
          .start(rec, { kind: 'attach', tty: false, stdin: false })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StrataError);
        expect((err as StrataError).exitCode).toBe(127);
        expect((err as Error).message).toBe(
          'failed to start container: exec: "no-such-command": executable file not found in $PATH',
        );
      } finally {
        await engine.remove(rec, { force: true, volumes: true });
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'detached: exec in the same namespaces, copy-up/whiteout/opaque, volumes, pids.max, logs, stop',
    async () => {
      const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-emu-vol-'));
      fs.writeFileSync(path.join(hostDir, 'seed.txt'), 'from the host\n');
      const rec = await engine.create(
        opts(['sh', '-c', 'echo started; exec sleep 1000'], {
          detach: true,
          pidsLimit: 8,
          memory: 64 * 1024 * 1024,
          volumes: [
            { kind: 'bind', source: hostDir, destination: '/data', readonly: false },
            { kind: 'volume', source: 'emuvol', destination: '/vol', readonly: false },
          ],
        }),
      );
      try {
        await engine.start(rec, { kind: 'log', path: engine.logPath(rec), tty: false });
        const pid = rec.State.Pid;
        expect(pid).toBeGreaterThan(1);

        // exec lands in the container's namespaces: the same inodes as its PID 1 (seen from the guest).
        const kinds = ['ipc', 'mnt', 'net', 'pid', 'uts'];
        const outside = await inGuest(kinds.map((k) => `readlink /proc/${pid}/ns/${k}`).join('; '));
        const inside = await execOut(rec, [
          'sh',
          '-c',
          kinds.map((k) => `readlink /proc/self/ns/${k}`).join('; '),
        ]);
        expect(inside).toEqual({ code: 0, out: outside });
        expect(outside).toMatch(/^ipc:\[\d+\]\nmnt:/);
        // ... and its PID namespace: PID 1 is the payload.
        expect((await execOut(rec, ['cat', '/proc/1/cmdline'])).out).toBe('sleep\u00001000\u0000');

        // copy-up, whiteout, opaque directory: made by overlayfs in the guest's upper dir.
        const change = await execOut(rec, [
          'sh',
          '-c',
          'echo x >> /etc/passwd && rm /bin/ls && rm -rf /var && mkdir -p /var/new',
        ]);
        expect(change.code).toBe(0);
        const upper = `/var/lib/strata/overlay2/${rec.Id}/diff`;
        expect(await inGuest(`cd ${upper} && stat -c '%F %t %T' etc/passwd bin/ls var`)).toBe(
          'regular file 0 0\ncharacter special file 0 0\ndirectory 0 0\n',
        );
        const changes = await backend.snapshots.changes(rec.Id);
        expect(changes).toEqual(
          expect.arrayContaining([
            { kind: 'C', path: '/etc/passwd' },
            { kind: 'D', path: '/bin/ls' },
            { kind: 'C', path: '/var' },
            { kind: 'A', path: '/var/new' },
            { kind: 'D', path: '/var/spool' },
            { kind: 'D', path: '/var/www' },
          ]),
        );
        const names: string[] = [];
        for await (const e of readTar(backend.snapshots.exportDiff(rec.Id))) names.push(e.path);
        expect(names).toEqual(
          expect.arrayContaining(['etc/passwd', 'bin/.wh.ls', 'var/.wh..wh..opq', 'var/new/']),
        );

        // volumes: the host dir's files were copied in; writes stay in the guest (docs/emulator.md).
        const vol = await execOut(rec, [
          'sh',
          '-c',
          'cat /data/seed.txt && echo kept > /vol/f && cat /vol/f',
        ]);
        expect(vol).toEqual({ code: 0, out: 'from the host\nkept\n' });

        // pids.max from --pids-limit (enforced by the guest's cgroup v2) and memory.max from -m.
        const cg = `/sys/fs/cgroup/strata/${rec.Id}`;
        expect(await inGuest(`cat ${cg}/pids.max ${cg}/memory.max; grep -c . ${cg}/cgroup.procs`)).toBe(
          `8\n${64 * 1024 * 1024}\n1\n`,
        );
        const forks = await execOut(rec, [
          'sh',
          '-c',
          'i=0; while [ $i -lt 12 ]; do sleep 3 & i=$((i+1)); done 2>/dev/null; jobs -p | wc -l',
        ]);
        expect(Number(forks.out.trim())).toBeLessThan(8);

        // the log: what the payload wrote reaches the host's log file.
        await engine.refresh(rec);
        expect(fs.readFileSync(engine.logPath(rec), 'utf8')).toBe('started\n');

        // stop: PID 1 ignores SIGTERM (no handler), so SIGKILL after the timeout: 137.
        await engine.stop(rec, 1);
        expect(rec.State).toMatchObject({ Running: false, ExitCode: 137 });
        expect(await inGuest(`[ -e ${cg} ] && echo cgroup left; grep -c ${rec.Id} /proc/mounts`)).toBe('0\n');
      } finally {
        await engine.remove(rec, { force: true, volumes: true });
        fs.rmSync(hostDir, { recursive: true, force: true });
      }
    },
    TEST_TIMEOUT,
  );
});
