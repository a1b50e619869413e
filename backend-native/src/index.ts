// The native backend: the core's Backend interface on the real Linux kernel.
import fs from 'node:fs';
import path from 'node:path';
import type { Backend } from '../../shared/src/backend.js';
import { StrataError } from '../../shared/src/errors.js';
import { NativeRuntime, shimPath, type ShimLauncher } from './runtime.js';
import { Overlay2Snapshotter } from './snapshotter.js';
import { isRootless } from './rootless.js';

export class NativeBackend implements Backend {
  readonly kind = 'native' as const;
  readonly snapshots: Overlay2Snapshotter;
  readonly runtime: NativeRuntime;
  // A user namespace cannot plumb veth pairs into the host's bridge: loopback only there.
  readonly defaultNetwork = isRootless() ? 'none' : 'bridge';

  /** `launcher`: who starts attached runs' shims (the warm daemon's client); default here. */
  constructor(root: string, launcher: ShimLauncher | null = null) {
    this.snapshots = new Overlay2Snapshotter(path.join(root, 'overlay2'));
    this.runtime = new NativeRuntime(launcher);
  }

  async checkPrerequisites(): Promise<void> {
    if (process.platform !== 'linux') {
      throw new StrataError(
        `the native backend needs Linux (this is ${process.platform}); use --backend emu`,
      );
    }
    if (process.getuid?.() !== 0) {
      throw new StrataError(
        'the native backend must run as root (namespaces, mounts and cgroups need it); use sudo, or --backend emu',
      );
    }
    const filesystems = fs.readFileSync('/proc/filesystems', 'utf8');
    if (!/\toverlay\n/.test(filesystems)) {
      throw new StrataError('the kernel has no overlay filesystem (modprobe overlay)');
    }
    shimPath();
  }
}
