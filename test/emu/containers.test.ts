// The shared container cases (test/cases/containers.ts) on the emu backend, through the real CLI:
// `strata --backend emu ...` commands all go to the store's emu daemon, which holds one guest for the
// whole file (restored from the snapshot once). What the cases check from outside they read with a
// shell in that guest (`strata --backend emu emu-daemon sh`). Fails (never skips) without the guest.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GUEST_HOST_MOUNT, guestImagePaths } from '../../backend-emu/src/index.ts';
import { hostToShare } from '../../backend-emu/src/emu-runtime.ts';
import { GUEST_CGROUP_PARENT, GUEST_ROOT } from '../../backend-emu/src/emu-session.ts';
import { containerCases, type Target } from '../cases/containers.js';
import { BIN, strata, tempRoot } from '../helpers/strata.js';

/** Each CLI command is several guest requests; every busybox fork costs 50 to 300 ms in the guest. */
const COMMAND_TIMEOUT = 600_000;
const TEST_TIMEOUT = 1_200_000;

let target: Target;
let root = '';
const emu = (args: string[]) => strata(root, ['--backend', 'emu', ...args], { timeout: COMMAND_TIMEOUT });

beforeAll(() => {
  for (const f of Object.values(guestImagePaths())) {
    if (!fs.existsSync(f))
      throw new Error(`guest image missing: ${f} (build it: sudo bash images/guest/build.sh)`);
  }
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run 'npm run setup' first`);
  root = tempRoot('emu-cases');
  target = {
    name: 'emu',
    storeRoot: root,
    strata: emu,
    sh(script) {
      const r = emu(['emu-daemon', 'sh', script]);
      if (r.code !== 0) throw new Error(`guest sh -c '${script}' exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    },
    // busybox has no getfattr: overlayfs itself tells. The directory's parent over a probe layer
    // holding a file in a directory of the same name: the file shows through exactly when the
    // directory is not opaque. (The parent, because overlayfs never reads a layer root as opaque.)
    opaque(dir) {
      const parent = dir.slice(0, dir.lastIndexOf('/'));
      const name = dir.slice(dir.lastIndexOf('/') + 1);
      const out = target.sh(
        `p=$(mktemp -d) && mkdir -p $p/lower/${name} $p/m && touch $p/lower/${name}/.probe && ` +
          `mount -t overlay -o ro,lowerdir=${parent}:$p/lower overlay $p/m && ` +
          `{ test -e $p/m/${name}/.probe && echo no || echo yes; umount $p/m; rm -rf $p; }`,
      );
      return out === 'yes\n';
    },
    sourceOnMachine: (hostPath) => `${GUEST_HOST_MOUNT}/${hostToShare(hostPath)}`,
    layerRoot: GUEST_ROOT,
    cgroupParent: GUEST_CGROUP_PARENT,
    // busybox unshare and nsenter have no cgroup namespace option (docs/emulator.md).
    namespaces: ['ipc', 'mnt', 'net', 'pid', 'uts'],
    // stop is several guest requests and share polls after the 1 s grace.
    stopBoundMs: 60_000,
  };
});

afterAll(() => {
  if (!root) return;
  // The last test stops the daemon; a command now would start a new one, unless a test failed early.
  if (!fs.existsSync(path.join(root, 'emu', 'daemon.sock'))) {
    fs.rmSync(root, { recursive: true, force: true });
    return;
  }
  const ids = emu(['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) emu(['rm', '-f', ...ids]);
  emu(['emu-daemon', 'stop']);
  fs.rmSync(root, { recursive: true, force: true });
}, COMMAND_TIMEOUT);

containerCases(() => target, TEST_TIMEOUT);

it(
  'emu daemon: every command above went to one daemon; stop ends it and removes its socket',
  async () => {
    const log = fs.readFileSync(path.join(root, 'emu', 'daemon.log'), 'utf8');
    const pids = [...log.matchAll(/listening on .* \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(1);
    const pid = pids[0]!;
    expect(emu(['emu-daemon', 'stop']).code).toBe(0);
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 200 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive()).toBe(false);
    expect(fs.existsSync(path.join(root, 'emu', 'daemon.sock'))).toBe(false);
  },
  TEST_TIMEOUT,
);
