// The emu backend: the core's Backend interface (shared/src/backend.ts) carried out inside a Linux
// guest in v86. One guest per EmuBackend, restored from the snapshot on first use and reused for every
// call; the store's metadata stays on the host, layers and containers live in the guest (its tmpfs
// under /var/lib/strata, the same overlay2 layout as native). docs/emulator.md, "The emu backend".
import fs from 'node:fs';
import type { Backend } from '../../shared/src/backend.js';
import { StrataError } from '../../shared/src/errors.js';
import { EmuSession } from './emu-session.ts';
import { busyboxSubstitute, EmuSnapshotter } from './emu-snapshotter.ts';
import { EmuRuntime } from './emu-runtime.ts';
import { guestImagePaths, type GuestImagePaths, type GuestMachine } from './guest.ts';

export interface EmuBackendOptions {
  /** Where the guest image is (default: .cache/guest or $STRATA_GUEST_CACHE). */
  image?: GuestImagePaths;
  /**
   * The host's busybox, as the embedded busybox image carries it (images/busybox/build.ts). The
   * guest is 32-bit x86 and cannot run that amd64 binary, so apply() puts the guest's own busybox
   * (the same Debian package, i386) in its place: matched by size and sha256, nothing else changes.
   * Default /bin/busybox when it exists; null turns the substitution off.
   */
  hostBusybox?: string | null;
  /**
   * The guest ends with this process (the CLI: one guest per strata command): refuse what would
   * need it to outlive the process, i.e. detached containers, with a clear error.
   */
  ephemeral?: boolean;
}

export class EmuBackend implements Backend {
  readonly kind = 'emu' as const;
  /** The guest has no network device: without --network, a container gets loopback only. */
  readonly defaultNetwork = 'none';
  readonly snapshots: EmuSnapshotter;
  readonly runtime: EmuRuntime;
  private readonly session: EmuSession;
  private readonly imagePaths: GuestImagePaths;

  constructor(opts: EmuBackendOptions = {}) {
    this.imagePaths = opts.image ?? guestImagePaths();
    this.session = new EmuSession(this.imagePaths);
    this.snapshots = new EmuSnapshotter(
      this.session,
      busyboxSubstitute(opts.hostBusybox === undefined ? '/bin/busybox' : opts.hostBusybox),
    );
    this.runtime = new EmuRuntime(this.session, opts.ephemeral ?? false);
  }

  /** The guest image must be built; the guest itself is restored on first use. */
  async checkPrerequisites(): Promise<void> {
    for (const f of Object.values(this.imagePaths)) {
      if (!fs.existsSync(f)) {
        throw new StrataError(
          `the emu backend's guest image is missing (${f}): build it with 'sudo bash images/guest/build.sh'`,
        );
      }
    }
  }

  /** Restore the guest now rather than on first use (to time it, or to fail early). */
  async ready(): Promise<void> {
    await this.session.machine();
  }

  /** The guest itself, for diagnostics and tests (what the containers look like from outside). */
  guest(): Promise<GuestMachine> {
    return this.session.machine();
  }

  /** Stop the guest; everything in it is gone. */
  async close(): Promise<void> {
    await this.session.stop();
  }
}
