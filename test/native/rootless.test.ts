// Rootless mode: an unprivileged user runs containers through a user namespace mapped onto its
// subordinate IDs (docs/rootless.md). The test makes that user itself, as an administrator would.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, requireNativePrerequisites, type Result } from '../helpers/strata.js';

const USER = 'strata-rootless';
let root: string;
let subuidStart: number;

function asUser(args: string[]): Result {
  const r = spawnSync(
    'setpriv',
    [
      '--reuid',
      USER,
      '--regid',
      USER,
      '--init-groups',
      'env',
      `HOME=/home/${USER}`,
      process.execPath,
      BIN,
      '--root',
      root,
      ...args,
    ],
    { encoding: 'utf8', timeout: 60_000, cwd: os.tmpdir() },
  );
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

function okAsUser(args: string[]): string {
  const r = asUser(args);
  if (r.code !== 0) throw new Error(`strata ${args.join(' ')} as ${USER} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  requireNativePrerequisites();
  for (const tool of ['newuidmap', 'newgidmap', 'setpriv']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      throw new Error(`${tool} is missing: run 'npm run setup' (Debian packages uidmap, util-linux)`);
  }
  if (spawnSync('id', [USER]).status !== 0) {
    const r = spawnSync('useradd', ['-m', '-s', '/bin/sh', USER], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`useradd ${USER}: ${r.stderr}`);
  }
  const line = fs
    .readFileSync('/etc/subuid', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${USER}:`));
  if (!line) {
    const r = spawnSync(
      'usermod',
      ['--add-subuids', '300000-365535', '--add-subgids', '300000-365535', USER],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`usermod: ${r.stderr}`);
  }
  subuidStart = Number(
    fs
      .readFileSync('/etc/subuid', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${USER}:`))!
      .split(':')[1],
  );
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-rootless-'));
  const idOf = (flag: string) => Number(spawnSync('id', [flag, USER], { encoding: 'utf8' }).stdout);
  fs.chownSync(root, idOf('-u'), idOf('-g'));
});

afterAll(() => {
  if (!root) return;
  const ids = asUser(['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
  if (ids.length) asUser(['rm', '-f', ...ids]);
  const pid = Number(fs.readFileSync(path.join(root, 'rootless-pause.pid'), 'utf8'));
  if (pid > 0) process.kill(pid, 'SIGKILL');
  fs.rmSync(root, { recursive: true, force: true });
});

describe('rootless mode', () => {
  it('runs busybox as root of a user namespace: uid 0 inside', () => {
    expect(okAsUser(['run', '--rm', 'busybox', 'id'])).toBe(
      'uid=0(root) gid=0(root) groups=0(root),10(wheel)\n',
    );
    const map = okAsUser(['run', '--rm', 'busybox', 'cat', '/proc/self/uid_map'])
      .trim()
      .split(/\s+/)
      .map(Number);
    expect(map.slice(0, 3)).toEqual([0, subuidStart, 65536]);
  });

  it('files the container creates are owned by the subordinate UID on the host', () => {
    const id = okAsUser(['create', 'busybox', 'sh', '-c', 'echo made > /made-inside']).trim();
    expect(asUser(['start', '-a', id]).code).toBe(0);
    const upper = okAsUser(['inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', id]).trim();
    const st = fs.statSync(path.join(upper, 'made-inside'));
    expect([st.uid, st.gid]).toEqual([subuidStart, subuidStart]);
    okAsUser(['rm', id]);
  });

  it('keeps the namespace for later commands: run -d, exec, stop, rm', () => {
    const id = okAsUser(['run', '-d', 'busybox', 'sleep', '1000']).trim();
    const pid = Number(okAsUser(['inspect', '-f', '{{.State.Pid}}', id]).trim());
    const inside = okAsUser(['exec', id, 'readlink', '/proc/self/ns/pid']).trim();
    expect(inside).toBe(fs.readlinkSync(`/proc/${pid}/ns/pid`));
    okAsUser(['rm', '-f', id]);
    expect(asUser(['ps', '-aq']).stdout).toBe('');
  });

  it('says what rootless mode cannot do here: cgroup limits', () => {
    const r = asUser(['run', '--rm', '--pids-limit', '10', 'busybox', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('rootless mode has no delegated cgroups');
  });
});
