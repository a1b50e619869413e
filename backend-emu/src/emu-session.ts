// The one guest an EmuBackend drives: restored from the snapshot on first use, prepared once (the
// store's tmpfs, the strata cgroup), then reused for every request. Every request has a timeout and
// fails with a StrataError that names what was asked of the guest.
import { StrataError } from '../../shared/src/errors.js';
import { GuestMachine, GuestTimeoutError, GUEST_HOST_MOUNT, type GuestImagePaths } from './guest.ts';

/** Where the emu store lives inside the guest (a tmpfs: overlayfs upper/work need xattrs). */
export const GUEST_ROOT = '/var/lib/strata';
export const GUEST_OVERLAY2 = `${GUEST_ROOT}/overlay2`;
/** Fifos and setup error files of starting containers (guest tmpfs: v86's 9p has no fifos). */
export const GUEST_RUN = `${GUEST_ROOT}/run`;
/** Our directory in the 9p share, as the host names it (GuestMachine.writeFile paths). */
export const SHARE_DIR = '.strata-emu';
/** The same directory as the guest sees it. */
export const GUEST_SHARE = `${GUEST_HOST_MOUNT}/${SHARE_DIR}`;
/** The guest's cgroup v2 parent of every container (controllers enabled for its children). */
export const GUEST_CGROUP_PARENT = '/sys/fs/cgroup/strata';

export const TIMEOUTS = { short: 30_000, apply: 180_000, start: 120_000 } as const;

export interface ScriptResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export class EmuSession {
  private guest: GuestMachine | null = null;
  private starting: Promise<GuestMachine> | null = null;

  constructor(private readonly imagePaths?: GuestImagePaths) {}

  /** The guest, restored and prepared on first use. */
  machine(): Promise<GuestMachine> {
    if (this.guest) return Promise.resolve(this.guest);
    this.starting ??= this.boot().then(
      (g) => (this.guest = g),
      (e: unknown) => {
        this.starting = null;
        throw e;
      },
    );
    return this.starting;
  }

  get restored(): boolean {
    return this.guest !== null;
  }

  private async boot(): Promise<GuestMachine> {
    const g = await GuestMachine.restore(this.imagePaths);
    // The guest's / is already a tmpfs, but a mount of its own makes the store's size and its
    // entry in mountinfo explicit. The cgroup parent delegates pids, memory and cpu to containers.
    const prep = await g.run(
      [
        `mkdir -p ${GUEST_ROOT} && mount -t tmpfs -o mode=0711 strata ${GUEST_ROOT}`,
        `mkdir -p ${GUEST_OVERLAY2}/l ${GUEST_RUN} ${GUEST_CGROUP_PARENT}`,
        `echo '+pids +memory +cpu' > ${GUEST_CGROUP_PARENT}/cgroup.subtree_control`,
      ].join(' && '),
      { timeoutMs: TIMEOUTS.short },
    );
    if (prep.exitCode !== 0) {
      await g.stop();
      throw new StrataError(`emu backend: preparing the guest failed: ${prep.stderr.trim()}`);
    }
    return g;
  }

  /** Runs a script in the guest; a timeout or a dead guest becomes a StrataError naming `what`. */
  async run(what: string, script: string, timeoutMs: number = TIMEOUTS.short): Promise<ScriptResult> {
    const g = await this.machine();
    try {
      return await g.run(script, { timeoutMs });
    } catch (e) {
      if (e instanceof GuestTimeoutError) {
        throw new StrataError(`emu backend: ${what}: the guest did not answer within ${timeoutMs} ms`);
      }
      throw new StrataError(`emu backend: ${what}: ${(e as Error).message}`);
    }
  }

  /** run(), and a non-zero exit is an error carrying the script's stderr. */
  async check(what: string, script: string, timeoutMs?: number): Promise<string> {
    const r = await this.run(what, script, timeoutMs);
    if (r.exitCode !== 0) {
      throw new StrataError(
        `emu backend: ${what} failed (exit ${r.exitCode}): ${r.stderr.trim() || r.stdout.trim()}`,
      );
    }
    return r.stdout;
  }

  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    const g = await this.machine();
    await g.writeFile(path, data);
  }

  /** A file in the 9p share, or null when it does not exist (yet). */
  async readFile(path: string): Promise<Uint8Array | null> {
    const g = await this.machine();
    try {
      return await g.readFile(path);
    } catch {
      return null;
    }
  }

  async removeFile(path: string): Promise<void> {
    if (!this.guest) return;
    await this.guest.removeFile(path).catch(() => undefined);
  }

  async stop(): Promise<void> {
    const g = this.guest ?? (this.starting ? await this.starting.catch(() => null) : null);
    this.guest = null;
    this.starting = null;
    await g?.stop();
  }
}
