// The warm native daemon (cli/src/native-daemon.ts) and its thin client (cli/src/client.ts): a run
// through it behaves as a direct one; a rebuilt dist/ never reaches an old daemon; a daemon stops
// once its store is gone; a daemon killed before or during a run leaves the client a working
// fallback and the store consistent. Real kernel, as root.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonSocket } from '../../cli/src/daemon-protocol.js';
import {
  BIN,
  collectOutput,
  REPO,
  destroyRoot,
  hostMountPoints,
  ok,
  requireNativePrerequisites,
  strata,
  tempRoot,
  type Result,
} from '../helpers/strata.js';

const TRACE = { ...process.env, STRATA_TRACE: '1' };
const SHIM = path.join(REPO, 'build', 'strata-shim');
const VIA_DAEMON = /\[trace\] .*client: run through the daemon/;
/** The daemon started the shim itself, with the client's stdio reopened through /proc. */
const STARTED_BY_DAEMON = /\[trace\] .*client: the daemon started the shim with this process's stdio/;

function currentBuild(bin = BIN): string {
  const pointer = fs.readFileSync(path.join(path.dirname(bin), '..', 'dist', 'strata.mjs'), 'utf8');
  const build = /\.\/(v[\d-]+)\//.exec(pointer)?.[1];
  if (!build) throw new Error(`no build in ${pointer}`);
  return build;
}

function answers(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(sock);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The daemon's PID, from its log (the last one started for the socket writes last). */
function daemonPid(sock: string): number {
  const log = fs.readFileSync(sock.replace(/\.sock$/, '.log'), 'utf8');
  const pid = Number([...log.matchAll(/, pid (\d+)/g)].at(-1)?.[1]);
  if (!pid) throw new Error(`no pid in the daemon log: ${log}`);
  return pid;
}

const alive = (pid: number): boolean => fs.existsSync(`/proc/${pid}`);

/** A run that went through the daemon (STRATA_TRACE says so) and what it printed. */
function viaDaemon(root: string, args: string[], env: NodeJS.ProcessEnv = {}): Result {
  const r = strata(root, ['run', ...args], { env: { ...TRACE, ...env } });
  expect(r.stderr).toMatch(VIA_DAEMON);
  return r;
}

function runAsync(bin: string, root: string, args: string[]): Promise<Result> {
  const child = spawn(process.execPath, [bin, '--root', root, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: TRACE,
  });
  return collectOutput(child, 128);
}

/**
 * The client with stdout and stderr on real pipes, as a shell gives them (Node's own 'pipe' stdio
 * is a socketpair, which the daemon cannot reopen), stdin from a pipe with `input`, else /dev/null.
 * With `file`, stdout goes to that file instead (`>>` or `>`), between the shell's own lines
 * `first` and `last` written through the same description.
 */
function pipedArgs(
  root: string,
  args: string[],
  opts: { input?: string; file?: [string, string] } = {},
): string[] {
  const client = '"$0" "$@" 2> >(cat >&2)';
  const script = opts.file
    ? `{ echo first; ${client} < /dev/null; s=$?; echo last; } ${opts.file[0]} ${opts.file[1]}; exit $s`
    : opts.input !== undefined
      ? `set -o pipefail; printf %s "$STRATA_TEST_INPUT" | ${client} | cat`
      : `set -o pipefail; ${client} < /dev/null | cat`;
  return ['-c', script, process.execPath, BIN, '--root', root, 'run', ...args];
}

function piped(root: string, args: string[], opts: { input?: string; file?: [string, string] } = {}): Result {
  const r = spawnSync('bash', pipedArgs(root, args, opts), {
    encoding: 'utf8',
    env: { ...TRACE, STRATA_TEST_INPUT: opts.input ?? '', FROM_USER: 'the client env' },
    timeout: 60_000,
  });
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

function pipedAsync(root: string, args: string[]): Promise<Result> {
  return collectOutput(
    spawn('bash', pipedArgs(root, args), { stdio: ['ignore', 'pipe', 'pipe'], env: TRACE }),
    128,
  );
}

/** The PID of the client (node, not the bash around it) whose command line contains `text`. */
function clientPid(text: string): number {
  const found = spawnSync('pgrep', ['-f', text], { encoding: 'utf8' }).stdout.trim().split('\n');
  const pid = found
    .map(Number)
    .find((p) => p > 0 && fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'node');
  if (!pid) throw new Error(`no client process matching ${text}`);
  return pid;
}

/**
 * The client, started by `start` with `run`'s arguments and taking the path `how`, gets SIGTERM
 * and passes it to the container, whose sh traps it: its output and exit code come back.
 */
async function forwardsTerm(
  root: string,
  start: (args: string[]) => Promise<Result>,
  how: RegExp,
): Promise<void> {
  const run = start([
    '--rm',
    'busybox',
    'sh',
    '-c',
    'trap "echo got TERM; exit 7" TERM; echo ready; sleep 30 & wait',
  ]);
  await until('the container', () => ok(root, ['ps', '-q']).trim() !== '');
  await new Promise((r) => setTimeout(r, 300)); // its trap is set once it printed ready
  process.kill(clientPid(`${root} run --rm busybox sh`), 'SIGTERM');
  const r = await run;
  expect(r.stderr).toMatch(how);
  expect(r.stdout).toBe('ready\ngot TERM\n');
  expect(r.code).toBe(7);
}

/** Containers, container layers and mounts a store holds: none once every run --rm is over. */
function leftovers(root: string): string[] {
  const layers = fs
    .readdirSync(path.join(root, 'overlay2'))
    .filter((d) => d.endsWith('-init') || fs.existsSync(path.join(root, 'overlay2', d, 'merged')));
  const containers = fs.readdirSync(path.join(root, 'containers')).filter((d) => d !== '.names');
  return [...layers, ...containers, ...hostMountPoints(root).filter((m) => m.startsWith(root + '/'))];
}

/** The shim a daemon started ahead (`strata-shim await-plan`, its child), or null. */
function spareShim(daemon: number): number | null {
  const children = fs
    .readFileSync(`/proc/${daemon}/task/${daemon}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  return children.find((c) => cmdline(c).endsWith('strata-shim\0await-plan\0')) ?? null;
}

const cmdline = (pid: number): string => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return ''; // gone
  }
};

/** A container's cgroup: in the pids hierarchy (v1) or the unified tree (v2). */
const cgroupOf = (id: string): string =>
  fs.existsSync('/sys/fs/cgroup/cgroup.controllers')
    ? `/sys/fs/cgroup/strata/${id}`
    : `/sys/fs/cgroup/pids/strata/${id}`;

/** Container snapshots a daemon made ahead, waiting in tmp/ (`ahead-PID-ID`). */
function aheadOf(root: string, pid: number): string[] {
  return fs.readdirSync(path.join(root, 'tmp')).filter((n) => n.startsWith(`ahead-${pid}-`));
}

/**
 * The network namespaces a daemon holds open (made ahead: network.ts), each with the host-side
 * interface index its eth0 is paired with (a bridge one's), or null (a `--net none` one's).
 */
function networksAhead(daemon: number): Array<{ ns: string; hostEnd: number | null }> {
  const out: Array<{ ns: string; hostEnd: number | null }> = [];
  for (const fd of fs.readdirSync(`/proc/${daemon}/fd`)) {
    let ns: string;
    try {
      ns = fs.readlinkSync(`/proc/${daemon}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (!ns.startsWith('net:')) continue;
    const links = spawnSync('nsenter', [`--net=/proc/${daemon}/fd/${fd}`, 'ip', '-o', 'link'], {
      encoding: 'utf8',
    });
    const peer = /^\d+: eth0@if(\d+):/m.exec(links.stdout);
    out.push({ ns, hostEnd: peer ? Number(peer[1]) : null });
  }
  return out;
}

/** The host's interface with index `ifindex`, by name, or null. */
function hostInterface(ifindex: number): string | null {
  for (const name of fs.readdirSync('/sys/class/net'))
    if (Number(fs.readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8')) === ifindex) return name;
  return null;
}

let root: string;
let sock: string;
beforeAll(async () => {
  requireNativePrerequisites();
  root = tempRoot('daemon');
  // The first run in a store runs directly (and builds the image); it starts the daemon for later.
  const first = strata(root, ['run', '--rm', 'busybox', 'true'], { env: TRACE });
  expect(first.code).toBe(0);
  expect(first.stderr).not.toMatch(VIA_DAEMON);
  sock = daemonSocket(root, currentBuild());
  await until('the daemon to listen', () => answers(sock));
}, 120_000);
afterAll(() => destroyRoot(root));

describe('runs through the warm daemon', () => {
  it('as a direct run: output, exit codes, the user environment for -e, stdin, relative paths', () => {
    const r = viaDaemon(root, ['--rm', '-e', 'FROM_USER', 'busybox', 'sh', '-c', 'echo $FROM_USER; exit 3'], {
      FROM_USER: 'the client env',
    });
    expect(r.stdout).toBe('the client env\n');
    expect(r.code).toBe(3);
    expect(viaDaemon(root, ['--rm', 'busybox', 'nosuch']).code).toBe(127);
    const bad = viaDaemon(root, ['--rm', 'nosuchimage']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/Unable to find image 'nosuchimage' locally/);
    const input = spawnSync(process.execPath, [BIN, '--root', root, 'run', '--rm', '-i', 'busybox', 'cat'], {
      input: 'through the client stdin\n',
      encoding: 'utf8',
      env: TRACE,
    });
    expect(input.stderr).toMatch(VIA_DAEMON);
    expect(input.stdout).toBe('through the client stdin\n');
    // The daemon reads a relative seccomp=FILE from the client's working directory.
    const dir = fs.mkdtempSync(path.join(root, '..', `${path.basename(root)}-cwd-`));
    try {
      fs.writeFileSync(path.join(dir, 'profile.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW' }));
      const seccomp = spawnSync(
        process.execPath,
        [BIN, '--root', root, 'run', '--rm', '--security-opt', 'seccomp=profile.json', 'busybox', 'true'],
        { cwd: dir, encoding: 'utf8', env: TRACE },
      );
      expect(seccomp.stderr).toMatch(VIA_DAEMON);
      expect(seccomp.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(leftovers(root)).toEqual([]);
  });

  it('forwards signals to the container and detaches with -d', async () => {
    await forwardsTerm(root, (args) => runAsync(BIN, root, ['run', ...args]), VIA_DAEMON);
    const id = viaDaemon(root, ['-d', '--rm', 'busybox', 'sleep', '0.2']).stdout.trim();
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    await until('the detached --rm container to remove itself', () => leftovers(root).length === 0);
    // Removed layers leave overlay2/ before the answer (above) and tmp/ once deleted after it.
    const aside = () => fs.readdirSync(path.join(root, 'tmp')).filter((n) => n.startsWith('removing-'));
    await until('the layers put aside to be deleted', () => aside().length === 0, 10_000);
  });

  it("tears a --rm bridge container's network down after the answer, and what a killed daemon left due at its start", async () => {
    const r = viaDaemon(root, ['--rm', 'busybox', 'true'], { STRATA_DAEMON: '1' });
    expect(r.code).toBe(0);
    const id = /network: teardown of ([0-9a-f]{64}) after the answer/.exec(r.stderr)?.[1];
    expect(id, r.stderr).toBeDefined();
    // Its netns mount and ports went as soon as the payload was reaped, before the monitor's "done".
    expect(r.stderr).toMatch(/network: released at the payload exit\n(.*\n)*.*runtime: monitor exited/);
    const mark = path.join(root, 'tmp', `teardown-${daemonPid(sock)}-${id}`);
    const gone = () =>
      !fs.existsSync(`/sys/class/net/veth${id!.slice(0, 11)}`) &&
      !fs.existsSync(`/run/strata/network/${id}.json`) &&
      !fs.existsSync(`/run/strata/netns/${id}`) &&
      !fs.existsSync(mark);
    await until('the deferred teardown', gone, 5000);
    expect(
      fs
        .readdirSync('/run/strata/network/leases')
        .filter((l) => fs.readFileSync(`/run/strata/network/leases/${l}`, 'utf8') === id),
    ).toEqual([]);

    // A daemon killed between the answer and the teardown: its mark names a dead PID, and the next
    // daemon of the store does the teardown when it starts (here of a lease and state only).
    const other = tempRoot('daemon-teardown');
    try {
      const fake = 'f'.repeat(48) + Date.now().toString(16).padStart(16, '0');
      const ip = '10.127.255.251';
      fs.mkdirSync(path.join(other, 'tmp'), { recursive: true });
      fs.mkdirSync('/run/strata/network/leases', { recursive: true });
      fs.writeFileSync(`/run/strata/network/leases/${ip}`, fake);
      const state = { id: fake, ipAddress: ip, veth: `veth${fake.slice(0, 11)}`, ports: [] };
      fs.writeFileSync(`/run/strata/network/${fake}.json`, JSON.stringify(state));
      const dead = path.join(other, 'tmp', `teardown-999999999-${fake}`);
      fs.writeFileSync(dead, '');
      expect(strata(other, ['run', '--rm', '--net', 'none', 'busybox', 'true'], { env: TRACE }).code).toBe(0);
      await until('the next daemon', async () => {
        const s = strata(other, ['run', '--rm', '--net', 'none', 'busybox', 'true'], { env: TRACE });
        return VIA_DAEMON.test(s.stderr);
      });
      expect(fs.existsSync(dead)).toBe(false);
      expect(fs.existsSync(`/run/strata/network/${fake}.json`)).toBe(false);
      expect(fs.existsSync(`/run/strata/network/leases/${ip}`)).toBe(false);
    } finally {
      destroyRoot(other);
    }
  });

  it("makes the next container's snapshots ahead in tmp/, and the next run of the image takes them over", async () => {
    expect(viaDaemon(root, ['--rm', 'busybox', 'true']).code).toBe(0);
    const pid = daemonPid(sock);
    // Complete once its read-write snapshot, made last, has its merged/ (built between awaits).
    const complete = (name: string) =>
      fs.existsSync(path.join(root, 'tmp', name, name.split('-')[2]!, 'merged'));
    await until('a pair made ahead', () => aheadOf(root, pid).filter(complete).length === 1, 10_000);
    const staged = aheadOf(root, pid)[0]!;
    const id = staged.slice(`ahead-${pid}-`.length);
    const ovl = path.join(root, 'overlay2');
    // Nothing of it is in the store's overlay2/ (nor l/) before a run takes it.
    expect(fs.readdirSync(path.join(root, 'tmp', staged)).sort()).toEqual([id, `${id}-init`]);
    expect(fs.existsSync(path.join(ovl, id)) || fs.existsSync(path.join(ovl, `${id}-init`))).toBe(false);
    const initLink = fs.readFileSync(path.join(root, 'tmp', staged, `${id}-init`, 'link'), 'utf8');
    expect(fs.existsSync(path.join(ovl, 'l', initLink))).toBe(false);
    // Its container's cgroups are made with it, empty.
    await until('its cgroups', () => fs.existsSync(cgroupOf(id)), 5000);
    expect(fs.readFileSync(path.join(cgroupOf(id), 'cgroup.procs'), 'utf8')).toBe('');

    const name = `ahead-${process.pid}`;
    const r = viaDaemon(root, ['--name', name, 'busybox', 'cat', '/etc/hostname']);
    expect(r.stdout).toBe(`${id.slice(0, 12)}\n`);
    const info = JSON.parse(ok(root, ['inspect', name])) as Array<{
      Id: string;
      GraphDriver: { Data: { LowerDir: string; UpperDir: string } };
    }>;
    expect(info[0]!.Id).toBe(id);
    // The layers as the snapshotter builds them: links that resolve, the init committed under the rw.
    for (const layer of [id, `${id}-init`]) {
      const link = fs.readFileSync(path.join(ovl, layer, 'link'), 'utf8');
      expect(fs.realpathSync(path.join(ovl, 'l', link))).toBe(path.join(ovl, layer, 'diff'));
    }
    expect(fs.existsSync(path.join(ovl, `${id}-init`, 'committed'))).toBe(true);
    expect(fs.readFileSync(path.join(ovl, id, 'lower'), 'utf8')).toBe(
      `l/${initLink}:${fs.readFileSync(path.join(ovl, `${id}-init`, 'lower'), 'utf8')}`,
    );
    expect(info[0]!.GraphDriver.Data.UpperDir).toBe(path.join(ovl, id, 'diff'));
    expect(info[0]!.GraphDriver.Data.LowerDir.split(':')[0]).toBe(path.join(ovl, `${id}-init`, 'diff'));
    expect(fs.existsSync(path.join(root, 'tmp', staged))).toBe(false);
    await until('the next pair', () => aheadOf(root, pid).some((n) => n !== staged), 10_000);
    ok(root, ['rm', name]);

    // A pair gone from tmp/ meanwhile: the run builds its snapshots as usual.
    fs.rmSync(path.join(root, 'tmp', aheadOf(root, pid)[0]!), { recursive: true });
    const again = viaDaemon(root, ['--rm', 'busybox', 'echo', 'built']);
    expect(again.stdout).toBe('built\n');
    expect(again.code).toBe(0);
    expect(leftovers(root)).toEqual([]);
  });

  it('STRATA_DAEMON=0 runs directly and starts no daemon', () => {
    const other = tempRoot('daemon-off');
    try {
      const off = { ...TRACE, STRATA_DAEMON: '0' };
      for (let i = 0; i < 2; i++) {
        const r = strata(other, ['run', '--rm', 'busybox', 'true'], { env: off });
        expect(r.code).toBe(0);
        expect(r.stderr).not.toMatch(VIA_DAEMON);
      }
      expect(fs.existsSync(daemonSocket(other, currentBuild()))).toBe(false);
    } finally {
      destroyRoot(other);
    }
  }, 120_000);
});

describe("the daemon starts the shim with the client's stdio", () => {
  it('on pipes: output, exit codes, -e from the client, stdin with -i, the container as a direct run', async () => {
    const r = piped(root, [
      '--rm',
      '-e',
      'FROM_USER',
      'busybox',
      'sh',
      '-c',
      'echo $FROM_USER; hostname; grep " / / " /proc/self/mountinfo; readlink /proc/self/fd/1; echo oops >&2; exit 3',
    ]);
    expect(r.stderr).toMatch(STARTED_BY_DAEMON);
    expect(r.code).toBe(3);
    const [env, hostname, rootMount, fd1] = r.stdout.split('\n');
    expect(env).toBe('the client env');
    expect(hostname).toMatch(/^[a-f0-9]{12}$/);
    expect(rootMount).toMatch(/ \/ rw,.* - overlay overlay rw,.*lowerdir=/);
    expect(fd1).toMatch(/^pipe:\[\d+\]$/);
    expect(r.stderr).toMatch(/^oops$/m);
    // Default signal dispositions and no mask (the daemon, a Node process, ignores SIGPIPE).
    const signals = piped(root, ['--rm', 'busybox', 'grep', '-E', '^Sig(Blk|Ign)', '/proc/self/status']);
    expect(signals.stderr).toMatch(STARTED_BY_DAEMON);
    expect(signals.stdout).toBe('SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
    const missing = piped(root, ['--rm', 'busybox', 'nosuch']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/executable file not found/);
    const input = piped(root, ['--rm', '-i', 'busybox', 'sh', '-c', 'cat; readlink /proc/self/fd/0'], {
      input: 'through a pipe\n',
    });
    expect(input.stderr).toMatch(STARTED_BY_DAEMON);
    expect(input.stdout).toMatch(/^through a pipe\npipe:\[\d+\]\n$/);
    // Without -i the payload's stdin is /dev/null, whatever the client's is.
    const noStdin = piped(root, ['--rm', 'busybox', 'sh', '-c', 'cat; readlink /proc/self/fd/0'], {
      input: 'not for the container\n',
    });
    expect(noStdin.stdout).toBe('/dev/null\n');
    // A removed container's directory leaves containers/ before the answer (its name is free at
    // once) and the store's tmp/ once deleted after it.
    for (let i = 0; i < 2; i++)
      expect(piped(root, ['--rm', '--name', 'same', 'busybox', 'true']).code).toBe(0);
    expect(leftovers(root)).toEqual([]);
    expect(fs.readdirSync(path.join(root, 'containers', '.names'))).toEqual([]);
    const aside = () => fs.readdirSync(path.join(root, 'tmp')).filter((n) => n.startsWith('removing-'));
    await until('the directories put aside to be deleted', () => aside().length === 0, 10_000);
  });

  it('gives the run to the shim it started ahead, which becomes its monitor; another one waits after the answer', async () => {
    expect(piped(root, ['--rm', 'busybox', 'true']).code).toBe(0);
    const daemon = daemonPid(sock);
    let spare: number | null = null;
    await until('a shim started ahead', () => (spare = spareShim(daemon)) !== null);
    const run = pipedAsync(root, ['--rm', 'busybox', 'sh', '-c', 'echo $$; sleep 1; echo done']);
    // The waiting shim is the one that starts the container: the payload is its child.
    let payload: number | undefined;
    await until('the payload under that shim', () => {
      const kids = fs.readFileSync(`/proc/${spare}/task/${spare}/children`, 'utf8').trim().split(/\s+/);
      payload = kids.map(Number).find((k) => k > 0 && cmdline(k).startsWith('sh\0-c\0'));
      return payload !== undefined;
    });
    expect(fs.readFileSync(`/proc/${payload}/cgroup`, 'utf8')).toMatch(/:pids:\/strata\/[a-f0-9]{64}\n/);
    const r = await run;
    expect(r.stderr).toMatch(STARTED_BY_DAEMON);
    expect(r.stdout).toBe('1\ndone\n');
    expect(r.code).toBe(0);
    await until('the next shim started ahead', () => {
      const next = spareShim(daemon);
      return next !== null && next !== spare;
    });
    // The monitor said "done" before its exit; the daemon reaps it once it has exited.
    await until('that monitor to be gone', () => !alive(spare!));
  });

  it('a shim started ahead (its namespaces made while it waited) serves --net host and container: too', async () => {
    const netns = (pid: number | 'self') => fs.readlinkSync(`/proc/${pid}/ns/net`);
    for (let i = 0; i < 2; i++) {
      // Twice: the first run may find no shim waiting yet, the second does.
      const host = piped(root, ['--rm', '--net', 'host', 'busybox', 'readlink', '/proc/self/ns/net']);
      expect(host.stderr).toMatch(STARTED_BY_DAEMON);
      expect(host.stdout).toBe(`${netns('self')}\n`);
    }
    const id = ok(root, ['run', '-d', 'busybox', 'sleep', '1000']).trim();
    try {
      const owner = Number(ok(root, ['inspect', '-f', '{{.State.Pid}}', id]).trim());
      for (let i = 0; i < 2; i++) {
        const joined = piped(root, [
          '--rm',
          '--net',
          `container:${id}`,
          'busybox',
          'readlink',
          '/proc/self/ns/net',
        ]);
        expect(joined.stderr).toMatch(STARTED_BY_DAEMON);
        expect(joined.stdout).toBe(`${netns(owner)}\n`);
      }
      // A bridge run's namespace is its own, with lo up (made ahead) and eth0.
      const bridged = piped(root, [
        '--rm',
        'busybox',
        'sh',
        '-c',
        'readlink /proc/self/ns/net; cat /sys/class/net/lo/flags; ls /sys/class/net',
      ]);
      const [ns, lo, ...ifaces] = bridged.stdout.trim().split('\n');
      expect([netns('self'), netns(owner)]).not.toContain(ns);
      expect(lo).toBe('0x9');
      expect(ifaces).toEqual(['eth0', 'lo']);
    } finally {
      ok(root, ['rm', '-f', id]);
    }
  });

  it('keeps a network namespace made ahead for each kind of network its runs used; a run joins it', async () => {
    const netns = (pid: number | 'self') => fs.readlinkSync(`/proc/${pid}/ns/net`);
    expect(piped(root, ['--rm', '--net', 'none', 'busybox', 'true']).code).toBe(0);
    expect(piped(root, ['--rm', 'busybox', 'true']).code).toBe(0);
    const daemon = daemonPid(sock);
    const made = () => networksAhead(daemon);
    await until('a bridge and a --net none network made ahead', () => {
      const m = made();
      return m.some((n) => n.hostEnd === null) && m.some((n) => n.hostEnd !== null);
    });
    const [bridge] = made().filter((n) => n.hostEnd !== null);
    // Its host end waits on the bridge, down, under a name of its own (no container's yet).
    const waiting = hostInterface(bridge!.hostEnd!)!;
    expect(waiting).toMatch(/^vsa[0-9a-f]{8}$/);
    expect(fs.existsSync(`/sys/class/net/strata0/brif/${waiting}`)).toBe(true);
    expect(Number(fs.readFileSync(`/sys/class/net/${waiting}/flags`, 'utf8')) & 1).toBe(0);

    // A bridge run joins it: the host end becomes the container's veth, up on the bridge; eth0
    // gets the leased address, Docker's MAC for it and the route.
    const id = ok(root, ['run', '-d', 'busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc']).trim();
    try {
      const pid = Number(ok(root, ['inspect', '-f', '{{.State.Pid}}', id]).trim());
      expect(netns(pid)).toBe(bridge!.ns);
      const veth = `veth${id.slice(0, 11)}`;
      expect(hostInterface(bridge!.hostEnd!)).toBe(veth);
      expect(fs.existsSync(`/sys/class/net/strata0/brif/${veth}`)).toBe(true);
      expect(Number(fs.readFileSync(`/sys/class/net/${veth}/flags`, 'utf8')) & 1).toBe(1);
      const ip = ok(root, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', id]).trim();
      const inside = ok(root, [
        'exec',
        id,
        'sh',
        '-c',
        'cat /sys/class/net/eth0/address; ip -4 -o addr show eth0; ip route',
      ]);
      const mac = ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(
        ':',
      );
      expect(inside).toContain(`${mac}\n`);
      expect(inside).toContain(`inet ${ip}/16`);
      expect(inside).toMatch(/^default via 10\.127\.0\.1 dev eth0/m);
      // Reached from the host through the bridge (the container's own address, in a namespace
      // this test made).
      const res = await fetch(`http://${ip}:8080/hostname`, { signal: AbortSignal.timeout(5000) });
      expect(await res.text()).toBe(`${id.slice(0, 12)}\n`);
    } finally {
      ok(root, ['rm', '-f', id]);
    }

    // A --net none run joins the other: lo only, up.
    const none = made().find((n) => n.hostEnd === null)!;
    const r = piped(root, [
      '--rm',
      '--net',
      'none',
      'busybox',
      'sh',
      '-c',
      'readlink /proc/self/ns/net; cat /sys/class/net/lo/flags; ls /sys/class/net',
    ]);
    expect(r.stdout.trim().split('\n')).toEqual([none.ns, '0x9', 'lo']);
    await until(
      'the next ones made ahead',
      () => made().length === 2 && !made().some((n) => n.ns === none.ns),
    );
  });

  it('gives no run to a shim started ahead from a binary replaced since (a rebuild of the shim)', async () => {
    expect(piped(root, ['--rm', 'busybox', 'true']).code).toBe(0);
    let spare: number | null = null;
    await until('a shim started ahead', () => (spare = spareShim(daemonPid(sock))) !== null);
    // The same bytes in a new file renamed over it, as the build leaves a new shim.
    const copy = `${SHIM}.test-${process.pid}`;
    fs.copyFileSync(SHIM, copy);
    fs.chmodSync(copy, 0o755);
    fs.renameSync(copy, SHIM);
    const run = pipedAsync(root, ['--rm', 'busybox', 'sh', '-c', 'sleep 2; echo fresh']);
    await until('the container', () => ok(root, ['ps', '-q']).trim() !== '');
    // While it runs, the older shim is gone: it was not the one given the run (its monitor).
    await until('the older shim to exit', () => !cmdline(spare!).includes('await-plan'), 1500);
    const r = await run;
    expect(r.stdout).toBe('fresh\n');
    expect(r.code).toBe(0);
  });

  it('a shim started ahead refuses a malformed plan and reports a file it cannot open, with nothing done', async () => {
    const planned = (plan: Buffer) =>
      new Promise<{ code: number | null; ctl: string }>((resolve) => {
        const shim = spawn(SHIM, ['await-plan'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
        const ctl = shim.stdio[3] as net.Socket;
        let said = '';
        ctl.on('data', (d: Buffer) => (said += d.toString()));
        ctl.on('error', () => undefined);
        shim.on('close', (code) => resolve({ code, ctl: said }));
        ctl.end(plan); // EOF after it: a plan cut short ends the shim
      });
    const fields = (f: string[]) => {
      const body = Buffer.from(f.map((x) => `${x}\0`).join(''));
      return Buffer.concat([Buffer.from(`plan ${body.length}\n`), body]);
    };
    expect((await planned(Buffer.from('plan 5\nab'))).code).toBe(125); // cut short
    expect((await planned(fields(['1', '4']))).code).toBe(125); // an fd without flags and path
    expect((await planned(fields(['0', '2', SHIM]))).code).toBe(125); // no env count
    const missing = await planned(fields(['1', '4', '0', '/nonexistent/strata', '0', '0']));
    expect(missing.code).toBe(125);
    expect(missing.ctl).toBe('error 2 /nonexistent/strata\n');
    // A plan that reads whole runs the command line it carries: here a usage error.
    expect((await planned(fields(['0', '1', SHIM, '0']))).code).toBe(125);
  });

  it('a file opened with >> is reopened; one opened with > (an offset of its own) keeps the client spawn', () => {
    const dir = fs.mkdtempSync(path.join(path.dirname(root), 'strata-stdio-'));
    try {
      const file = path.join(dir, 'out');
      for (const [redirect, byDaemon] of [
        ['>>', true],
        ['>', false],
      ] as const) {
        fs.rmSync(file, { force: true });
        const r = piped(root, ['--rm', 'busybox', 'echo', 'payload'], { file: [redirect, file] });
        expect(r.code).toBe(0);
        expect(r.stderr).toMatch(VIA_DAEMON);
        if (byDaemon) expect(r.stderr).toMatch(STARTED_BY_DAEMON);
        else expect(r.stderr).not.toMatch(STARTED_BY_DAEMON);
        // A description reopened without O_APPEND would have written at offset 0, over "first".
        expect(fs.readFileSync(file, 'utf8')).toBe('first\npayload\nlast\n');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('-t on a terminal keeps the client spawn: its control connection is made when the daemon asks', () => {
    // script(1) gives the client a pty: reopenable, so the client makes no control connection up
    // front; -t still needs the client's own spawn (raw mode, resizes).
    const cmd = `${process.execPath} ${BIN} --root ${root} run --rm -t busybox sh -c 'tty; exit 5'`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', input: '', env: TRACE });
    expect(r.stdout).toMatch(VIA_DAEMON);
    expect(r.stdout).not.toMatch(STARTED_BY_DAEMON);
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r?$/m);
    expect(r.status).toBe(5);
    expect(leftovers(root)).toEqual([]);
  });

  it('forwards signals to the container it started', async () => {
    await forwardsTerm(root, (args) => pipedAsync(root, args), STARTED_BY_DAEMON);
    expect(leftovers(root)).toEqual([]);
  });

  it('finishes the run of a client killed midway: the payload still writes to its pipe, --rm removes it', async () => {
    const run = pipedAsync(root, ['--rm', 'busybox', 'sh', '-c', 'sleep 1; echo still here']);
    await until('the container', () => ok(root, ['ps', '-q']).trim() !== '');
    process.kill(clientPid(`${root} run --rm busybox sh`), 'SIGKILL');
    const r = await run;
    expect(r.stdout).toBe('still here\n'); // the daemon's shim had its own copy of the pipe
    expect(r.code).toBe(137);
    await until('the container to be removed', () => leftovers(root).length === 0, 20_000);
    expect(ok(root, ['ps', '-aq'])).toBe('');
  }, 60_000);
});

describe('the daemon goes away', () => {
  it('killed while a run waits: the client runs it directly', async () => {
    await until('the daemon', () => answers(sock));
    const pid = daemonPid(sock);
    await until('a pair made ahead', () => aheadOf(root, pid).length > 0, 10_000);
    const pairId = aheadOf(root, pid)[0]!.slice(`ahead-${pid}-`.length);
    await until("the pair's cgroups", () => fs.existsSync(cgroupOf(pairId)), 5000);
    let spare: number | null = null;
    await until('a shim started ahead', () => (spare = spareShim(pid)) !== null);
    // A bridge run earlier in this file made the daemon keep a bridge network ahead.
    let hostEnd: number | null | undefined;
    await until(
      'a bridge network made ahead',
      () => (hostEnd = networksAhead(pid).find((n) => n.hostEnd)?.hostEnd) != null,
    );
    const waiting = hostInterface(hostEnd!);
    expect(waiting).toMatch(/^vsa/);
    process.kill(pid, 'SIGSTOP'); // it accepts the connection (the kernel does) but answers nothing
    const run = runAsync(BIN, root, ['run', '--rm', 'busybox', 'sh', '-c', 'echo direct; exit 4']);
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(pid, 'SIGKILL');
    const r = await run;
    expect(r.stdout).toBe('direct\n');
    expect(r.code).toBe(4);
    expect(r.stderr).not.toMatch(VIA_DAEMON);
    expect(leftovers(root)).toEqual([]);
    // That run started a new daemon in its place, which deleted what the killed one made ahead.
    await until('a new daemon', async () => (await answers(sock)) && daemonPid(sock) !== pid);
    await until("the killed one's pair deleted", () => aheadOf(root, pid).length === 0, 5000);
    expect(fs.existsSync(cgroupOf(pairId))).toBe(false);
    // Its shim started ahead read the end of its control socket and went.
    await until('the shim it started ahead to exit', () => !cmdline(spare!).includes('await-plan'));
    // The kernel freed the namespace it had made ahead, and the veth pair in it.
    await until(
      'its bridge network made ahead to be gone',
      () => !fs.existsSync(`/sys/class/net/${waiting}`),
      10_000,
    );
  }, 60_000);

  /**
   * The daemon SIGKILLed while a container it serves runs (`start` runs `sh -c 'sleep 2; echo
   * finished; exit 6'` with --rm): the client still gets the output and the exit code, the
   * container is removed, nothing is left, and the next run works (and starts a daemon).
   */
  async function killedWhileItRuns(start: (args: string[]) => Promise<Result>, how: RegExp): Promise<void> {
    // After a kill, the daemon the previous run started (its log line comes just after it listens).
    await until('the daemon', async () => (await answers(sock)) && alive(daemonPid(sock)));
    const pid = daemonPid(sock);
    const run = start(['--rm', 'busybox', 'sh', '-c', 'sleep 2; echo finished; exit 6']);
    await until('the container', () => ok(root, ['ps', '-q']).trim() !== '');
    process.kill(pid, 'SIGKILL');
    const r = await run;
    expect(r.stderr).toMatch(how);
    expect(r.stderr).toMatch(/the daemon for .* went away/);
    expect(r.stdout).toBe('finished\n');
    expect(r.code).toBe(6);
    expect(ok(root, ['ps', '-aq'])).toBe('');
    expect(leftovers(root)).toEqual([]);
    expect(strata(root, ['run', '--rm', 'busybox', 'echo', 'next']).stdout).toBe('next\n');
  }

  it(
    'killed while its container runs: the exit code still arrives, --rm removes it, the store stays consistent',
    () => killedWhileItRuns((args) => runAsync(BIN, root, ['run', ...args]), VIA_DAEMON),
    60_000,
  );

  it(
    'killed while the container it started runs: the client takes the exit code from the exit file',
    () => killedWhileItRuns((args) => pipedAsync(root, args), STARTED_BY_DAEMON),
    60_000,
  );

  it('finishes the run of a client killed midway: its --rm container goes once the payload ends', async () => {
    await until('the daemon', () => answers(sock));
    const child = spawn(process.execPath, [BIN, '--root', root, 'run', '--rm', 'busybox', 'sleep', '1'], {
      stdio: 'ignore',
    });
    await until('the container', () => ok(root, ['ps', '-q']).trim() !== '');
    child.kill('SIGKILL');
    await until('the container to be removed', () => leftovers(root).length === 0, 20_000);
    expect(ok(root, ['ps', '-aq'])).toBe('');
  }, 60_000);

  it('stops within seconds once its store root is removed', async () => {
    const other = tempRoot('daemon-gone');
    const otherSock = daemonSocket(other, currentBuild());
    try {
      ok(other, ['run', '--rm', 'busybox', 'true']);
      await until('its daemon', () => answers(otherSock));
      const pid = daemonPid(otherSock);
      let spare: number | null = null;
      await until('a shim started ahead', () => (spare = spareShim(pid)) !== null);
      destroyRoot(other);
      await until('the daemon to exit', () => !alive(pid), 15_000);
      expect(fs.existsSync(otherSock)).toBe(false);
      await until('its shim started ahead to exit with it', () => !cmdline(spare!).includes('await-plan'));
    } finally {
      if (fs.existsSync(other)) destroyRoot(other);
    }
  }, 120_000);

  it('a rebuilt dist/ never talks to the old build: its daemon stops, the next run starts a new one', async () => {
    // An installation of its own (bin/ and dist/ copied; the shim and node_modules linked), so that
    // "rebuilding" it does not disturb other tests using the checkout's dist/.
    const inst = fs.mkdtempSync(path.join(path.dirname(root), 'strata-inst-'));
    const other = tempRoot('daemon-build');
    try {
      fs.cpSync(path.join(REPO, 'bin'), path.join(inst, 'bin'), { recursive: true });
      const old = currentBuild();
      fs.mkdirSync(path.join(inst, 'dist'));
      fs.cpSync(path.join(REPO, 'dist', old), path.join(inst, 'dist', old), { recursive: true });
      fs.copyFileSync(path.join(REPO, 'dist', 'strata.mjs'), path.join(inst, 'dist', 'strata.mjs'));
      fs.symlinkSync(path.join(REPO, 'build'), path.join(inst, 'build'));
      fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(inst, 'node_modules'));
      const bin = path.join(inst, 'bin', 'strata.js');
      const run = (): Promise<Result> => runAsync(bin, other, ['run', '--rm', 'busybox', 'echo', 'ok']);
      expect((await run()).code).toBe(0);
      const oldSock = daemonSocket(other, old);
      await until('the daemon of the first build', () => answers(oldSock));
      const oldPid = daemonPid(oldSock);
      expect((await run()).stderr).toMatch(VIA_DAEMON);
      await until('a pair made ahead', () => aheadOf(other, oldPid).length === 1, 10_000);

      const rebuilt = `v${Date.now()}-${process.pid}`;
      fs.cpSync(path.join(inst, 'dist', old), path.join(inst, 'dist', rebuilt), { recursive: true });
      fs.writeFileSync(path.join(inst, 'dist', 'strata.mjs'), `export * from './${rebuilt}/strata.mjs';\n`);
      const first = await run(); // no daemon of this build yet: directly, and one starts
      expect(first.code).toBe(0);
      expect(first.stderr).not.toMatch(VIA_DAEMON);
      await until('the old daemon to exit', () => !alive(oldPid), 15_000);
      expect(aheadOf(other, oldPid)).toEqual([]); // what it made ahead went with it
      const newSock = daemonSocket(other, rebuilt);
      await until('the daemon of the new build', () => answers(newSock));
      const second = await run();
      expect(second.stdout).toBe('ok\n');
      expect(second.stderr).toMatch(VIA_DAEMON);
    } finally {
      destroyRoot(other);
      fs.rmSync(inst, { recursive: true, force: true });
    }
  }, 180_000);
});
