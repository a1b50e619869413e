// The shared container cases (test/cases/containers.ts) on the native backend: the host's kernel,
// checked from the host. The emu backend runs the same cases in test/emu/containers.test.ts.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { lgetxattr } from '../../backend-native/src/libc.js';
import { containerCases, type Target } from '../cases/containers.js';
import { destroyRoot, requireNativePrerequisites, strata, tempRoot } from '../helpers/strata.js';

let target: Target;
beforeAll(() => {
  requireNativePrerequisites();
  const root = tempRoot('cases');
  target = {
    name: 'native',
    storeRoot: root,
    strata: (args) => strata(root, args),
    sh(script) {
      const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`sh -c '${script}' exited ${r.status}: ${r.stderr}`);
      return r.stdout;
    },
    opaque: (dir) => lgetxattr(dir, 'trusted.overlay.opaque') === 'y',
    sourceOnMachine: (hostPath) => hostPath,
    layerRoot: root,
    cgroupParent: '/sys/fs/cgroup/pids/strata',
    namespaces: ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts'],
    stopBoundMs: 5_000,
  };
});
afterAll(() => {
  if (target) destroyRoot(target.storeRoot);
});

containerCases(() => target, 60_000);
