// Container lifecycle: exit codes, stop/kill/wait/logs, --rm leaving nothing behind, concurrency,
// crash recovery, and Docker's errors and exit codes for bad input. Stop of a PID 1 that ignores
// SIGTERM and rm of a running container are shared cases run on both backends: test/cases/containers.ts.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIN,
  destroyRoot,
  hostMountPoints,
  storeTree,
  ok,
  requireNativePrerequisites,
  strata,
  strataAsync,
  tempRoot,
} from '../helpers/strata.js';

let root: string;
beforeAll(() => {
  requireNativePrerequisites();
  root = tempRoot('life');
  ok(root, ['run', '--rm', 'busybox', 'true']); // builds the base image once
});
afterAll(() => destroyRoot(root));

/** What a store holds apart from images: must be empty again once every container is gone. */
function containerLeftovers(): { dirs: string[]; mounts: string[]; cgroups: string[] } {
  const images = new Set(
    fs
      .readdirSync(path.join(root, 'overlay2'))
      .filter(
        (d) =>
          /^[a-f0-9]{64}$/.test(d) &&
          fs.existsSync(path.join(root, 'overlay2', d, 'committed')) &&
          !fs.existsSync(path.join(root, 'overlay2', d, 'merged')),
      ),
  );
  const dirs = fs.readdirSync(path.join(root, 'overlay2')).filter((d) => d !== 'l' && !images.has(d));
  const containers = fs.readdirSync(path.join(root, 'containers')).filter((d) => d !== '.names');
  const names = fs.readdirSync(path.join(root, 'containers', '.names'));
  const links = fs
    .readdirSync(path.join(root, 'overlay2', 'l'))
    .filter((l) => !fs.existsSync(path.join(root, 'overlay2', 'l', l)));
  const cgroups = fs.existsSync('/sys/fs/cgroup/pids/strata')
    ? fs.readdirSync('/sys/fs/cgroup/pids/strata').filter((d) => /^[a-f0-9]{64}$/.test(d))
    : [];
  const mine = cgroups.filter((c) => containers.includes(c) || dirs.some((d) => d.startsWith(c)));
  return {
    dirs: [
      ...dirs,
      ...containers.map((c) => `containers/${c}`),
      ...names.map((n) => `names/${n}`),
      ...links.map((l) => `dangling l/${l}`),
    ],
    mounts: hostMountPoints(root).filter((m) => m.startsWith(root)),
    cgroups: mine,
  };
}

describe('exit codes', () => {
  it("passes the payload's exit code through, 126 and 127 as Docker", () => {
    expect(strata(root, ['run', '--rm', 'busybox', 'sh', '-c', 'exit 42']).code).toBe(42);
    const notFound = strata(root, ['run', '--rm', 'busybox', 'no-such-command']);
    expect(notFound.code).toBe(127);
    expect(notFound.stderr).toContain('exec: "no-such-command": executable file not found in $PATH');
    const notExec = strata(root, ['run', '--rm', 'busybox', '/etc/passwd']);
    expect(notExec.code).toBe(126);
    expect(notExec.stderr).toMatch(/permission denied/i);
    // PID 1 cannot be killed from inside its own namespace (the kernel protects a namespace's init).
    expect(strata(root, ['run', '--rm', 'busybox', 'sh', '-c', 'kill -9 $$; echo survived']).stdout).toBe(
      'survived\n',
    );
  });
});

describe('terminals', () => {
  // util-linux `script` gives the CLI a real terminal, as a user's shell would.
  const inTerminal = (cmd: string, input: string) =>
    spawnSync('script', ['-qec', cmd, '/dev/null'], { input, encoding: 'utf8', timeout: 30_000 });
  /**
   * What the payload wrote, without the echoes of the input: the input is written at once, so
   * `script`'s terminal (before the CLI makes it raw) and the container's own pty echo it wherever
   * it lands among the output lines.
   */
  const written = (stdout: string, input: string) =>
    stdout
      .replace(/\r/g, '')
      .split('\n')
      .filter((l) => l !== input.trim())
      .join('\n');

  // `sh -c`, not an interactive shell: ash's line editing flushes what was typed before its first
  // prompt (tcsetattr TCSAFLUSH), which raced the input written here at once on a loaded machine.
  it('run -it gives the payload a pty from its own devpts, passes input and the exit code', () => {
    const r = inTerminal(
      `${process.execPath} ${BIN} --root ${root} run --rm -it busybox sh -c 'tty; echo "$TERM"; read x; echo got-$(($x)); exit 3'`,
      '6*7\n',
    );
    expect(written(r.stdout, '6*7\n')).toContain('/dev/pts/0\nxterm\ngot-42\n');
    expect(r.status).toBe(3);
  });

  it('exec -it attaches a new pty inside the running container', () => {
    const id = ok(root, ['run', '-d', 'busybox', 'sleep', '1000']).trim();
    try {
      const r = inTerminal(
        `${process.execPath} ${BIN} --root ${root} exec -it ${id} sh -c 'tty; cat /proc/1/comm; read x; echo got-$x; exit 4'`,
        'typed\n',
      );
      expect(written(r.stdout, 'typed\n')).toContain('/dev/pts/0\nsleep\ngot-typed\n');
      expect(r.status).toBe(4);
    } finally {
      ok(root, ['rm', '-f', id]);
    }
  });
});

describe('stop, kill, wait, logs', () => {
  it('stops a process that handles SIGTERM at once, with --init forwarding it', () => {
    const id = ok(root, [
      'run',
      '-d',
      '--init',
      'busybox',
      'sh',
      '-c',
      'trap "exit 3" TERM; while true; do sleep 0.1; done',
    ]).trim();
    const t0 = Date.now();
    ok(root, ['stop', '-t', '10', id]);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(ok(root, ['wait', id]).trim()).toBe('3');
    ok(root, ['rm', id]);
  });

  it('kills with a chosen signal, keeps detached output in logs, and lists with ps', () => {
    const id = ok(root, [
      'run',
      '-d',
      '--name',
      'logger',
      'busybox',
      'sh',
      '-c',
      'trap "exit 5" USR1; echo out; echo err >&2; while :; do sleep 0.1; done',
    ]).trim();
    expect(ok(root, ['ps', '-q'])).toContain(id.slice(0, 12));
    const ps = ok(root, ['ps']);
    expect(ps.split('\n')[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(ps).toMatch(/logger/);
    for (let i = 0; i < 50 && !ok(root, ['logs', 'logger']).includes('err'); i++)
      spawnSync('sleep', ['0.05']);
    expect(ok(root, ['logs', 'logger']).split('\n').sort()).toEqual(['', 'err', 'out']);
    ok(root, ['kill', '-s', 'USR1', 'logger']);
    expect(ok(root, ['wait', 'logger']).trim()).toBe('5');
    expect(ok(root, ['ps', '-q'])).not.toContain(id.slice(0, 12));
    expect(ok(root, ['ps', '-a', '-q'])).toContain(id.slice(0, 12));
    const again = strata(root, ['kill', 'logger']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is not running');
    ok(root, ['rm', 'logger']);
  });

  it('removes a detached --rm container by itself when it exits', () => {
    const id = ok(root, ['run', '-d', '--rm', 'busybox', 'sh', '-c', 'sleep 0.2']).trim();
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      gone = !fs.existsSync(path.join(root, 'containers', id));
      if (!gone) spawnSync('sleep', ['0.05']);
    }
    expect(gone).toBe(true);
    expect(containerLeftovers()).toEqual({ dirs: [], mounts: [], cgroups: [] });
  });
});

describe('cleanliness and concurrency', () => {
  it('leaves no mount, directory or cgroup behind after 50 run --rm cycles', () => {
    const before = hostMountPoints(root);
    for (let i = 0; i < 50; i++) expect(strata(root, ['run', '--rm', 'busybox', 'true']).code).toBe(0);
    expect(hostMountPoints(root)).toEqual(before);
    expect(containerLeftovers()).toEqual({ dirs: [], mounts: [], cgroups: [] });
  }, 120_000);

  it('runs 20 containers at once with distinct IDs and a consistent store afterwards', async () => {
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        strataAsync(root, ['run', '--rm', '-e', `N=${i}`, 'busybox', 'sh', '-c', 'echo $N $HOSTNAME']),
      ),
    );
    for (const [i, r] of runs.entries()) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.split(' ')[0]).toBe(String(i));
    }
    const hostnames = new Set(runs.map((r) => r.stdout.trim().split(' ')[1]));
    expect(hostnames.size).toBe(20);
    expect(containerLeftovers()).toEqual({ dirs: [], mounts: [], cgroups: [] });
    expect(ok(root, ['images', '-q']).trim().split('\n')).toHaveLength(1);
  }, 120_000);

  it('recovers from a strata process killed with SIGKILL midway: rm -f cleans up, the next run works', async () => {
    const child = spawn(
      process.execPath,
      [BIN, '--root', root, 'run', '--name', 'victim', 'busybox', 'sleep', '1000'],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 100 && !fs.existsSync(path.join(root, 'containers', '.names', 'victim')); i++)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    ok(root, ['rm', '-f', 'victim']);
    expect(containerLeftovers()).toEqual({ dirs: [], mounts: [], cgroups: [] });
    expect(ok(root, ['run', '--rm', '--name', 'victim', 'busybox', 'echo', 'fine'])).toBe('fine\n');
  });

  it('refuses a second container with the same name', () => {
    ok(root, ['create', '--name', 'dup', 'busybox']);
    const r = strata(root, ['create', '--name', 'dup', 'busybox']);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('Conflict. The container name "/dup" is already in use');
    ok(root, ['rm', 'dup']);
  });
});

describe('bad input: a clear message, a Docker exit code, nothing left behind', () => {
  const cases: Array<[string, string[], number, RegExp]> = [
    ['unknown image', ['run', '--rm', 'nosuchimage'], 125, /Unable to find image 'nosuchimage' locally/],
    [
      'bad -v spec',
      ['run', '--rm', '-v', 'relative:path:ro:x', 'busybox', 'true'],
      125,
      /invalid volume specification: 'relative:path:ro:x'/,
    ],
    [
      'relative -v target',
      ['run', '--rm', '-v', '/tmp:rel', 'busybox', 'true'],
      125,
      /mount path must be absolute/,
    ],
    [
      'missing -v source',
      ['run', '--rm', '-v', '/no/such/dir:/x', 'busybox', 'true'],
      125,
      /bind source path does not exist: \/no\/such\/dir/,
    ],
    ['missing command', ['run', '--rm', '--entrypoint', '', 'busybox'], 125, /No command specified/],
    ['unknown flag', ['run', '--bogus', 'busybox'], 125, /unknown flag: --bogus\nSee 'strata run --help'/],
    ['no image argument', ['run'], 125, /"strata run" requires at least 1 argument/],
    ['bad name', ['run', '--name', 'a b', 'busybox'], 125, /Invalid container name \(a b\)/],
    ['unknown command', ['frobnicate'], 125, /'frobnicate' is not a strata command/],
    ['no such container', ['stop', 'ghost'], 1, /No such container: ghost/],
    ['bad memory size', ['run', '-m', 'lots', 'busybox'], 125, /invalid size: 'lots'/],
  ];
  for (const [what, args, code, message] of cases) {
    it(what, () => {
      const before = storeTree(root);
      const r = strata(root, args);
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(code);
      expect(storeTree(root)).toEqual(before);
    });
  }

  it('not root: says so, exit 125, touches nothing', () => {
    const before = storeTree(root);
    const r = spawnSync(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        BIN,
        '--root',
        root,
        'run',
        '--rm',
        'busybox',
        'true',
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toContain('must run as root');
    expect(r.status).toBe(125);
    expect(storeTree(root)).toEqual(before);
  });
});
