// The one guest an EmuBackend drives: restored from the snapshot on first use, prepared once (the
// store's tmpfs, the strata cgroup), then reused for every request. Every request has a timeout and
// fails with a StrataError that names what was asked of the guest.
import { createHash } from 'node:crypto';
import { StrataError } from '../../shared/src/errors.js';
import {
  GuestDeadError,
  GuestMachine,
  GuestTimeoutError,
  GUEST_HOST_MOUNT,
  type GuestImagePaths,
} from './guest.ts';

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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const TIMEOUTS = { short: 30_000, apply: 180_000, start: 120_000 } as const;

export interface ScriptResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * The guest's / is already a tmpfs, but a mount of its own makes the store's size and its entry in
 * mountinfo explicit. The cgroup parent delegates pids, memory and cpu to containers. Run once per
 * guest: by images/guest/snapshot.mjs before saving, else after the restore.
 */
export const PREPARE_SCRIPT = [
  `mkdir -p ${GUEST_ROOT} && mount -t tmpfs -o mode=0711 strata ${GUEST_ROOT}`,
  `mkdir -p ${GUEST_OVERLAY2}/l ${GUEST_RUN} ${GUEST_CGROUP_PARENT}`,
  `echo '+pids +memory +cpu' > ${GUEST_CGROUP_PARENT}/cgroup.subtree_control`,
].join(' && ');

export const sha256Hex = (text: string | Uint8Array): string =>
  createHash('sha256').update(text).digest('hex');

const DISCARDED =
  'the guest was discarded, with the layers and containers in it; the next request restores a fresh one';

export class EmuSession {
  private guest: GuestMachine | null = null;
  private starting: Promise<GuestMachine> | null = null;
  private readonly resetListeners: (() => void)[] = [];
  /** Bumped each time a dead guest is discarded: work tied to the old guest can tell it is gone. */
  generation = 0;
  /** Why the last guest was discarded (for status reasons), or null. */
  lastDeath: string | null = null;

  constructor(private readonly imagePaths?: GuestImagePaths) {}

  /** `fn` runs when a dead guest is discarded: what was known about its contents is void. */
  onReset(fn: () => void): void {
    this.resetListeners.push(fn);
  }

  /** Drops a dead guest (its emulator is already destroyed) so the next request restores afresh. */
  private discard(g: GuestMachine): void {
    if (this.guest !== g) return;
    this.guest = null;
    this.starting = null;
    this.generation++;
    this.lastDeath = g.deadReason;
    for (const fn of this.resetListeners) fn();
  }

  /** The guest, restored and prepared on first use. */
  machine(): Promise<GuestMachine> {
    if (this.guest?.deadReason != null) this.discard(this.guest);
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
    // snapshot.mjs ran PREPARE_SCRIPT before saving the machine: again only if it changed since.
    if (g.meta.prepared === sha256Hex(PREPARE_SCRIPT)) return g;
    const prep = await g.run(PREPARE_SCRIPT, { timeoutMs: TIMEOUTS.short });
    if (prep.exitCode !== 0) {
      await g.stop();
      throw new StrataError(`emu backend: preparing the guest failed: ${prep.stderr.trim()}`);
    }
    return g;
  }

  /** Runs a script in the guest; a timeout or a dead guest becomes a StrataError naming `what`. */
  async run(what: string, script: string, timeoutMs: number = TIMEOUTS.short): Promise<ScriptResult> {
    for (let attempt = 0; ; attempt++) {
      const g = await this.machine();
      try {
        return await g.run(script, { timeoutMs });
      } catch (e) {
        if (g.deadReason !== null) this.discard(g);
        // Queued behind a request that killed the guest, never sent: run it in a fresh guest.
        if (e instanceof GuestDeadError && !e.sent && attempt === 0) continue;
        if (e instanceof GuestTimeoutError) {
          throw new StrataError(`emu backend: ${what}: the guest did not answer within ${timeoutMs} ms`);
        }
        const tail = e instanceof GuestDeadError ? `; ${DISCARDED}` : '';
        throw new StrataError(`emu backend: ${what}: ${(e as Error).message}${tail}`);
      }
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

  /**
   * Work the next request carries (GuestMachine.defer): a snapshot's preparation or removal, whose
   * failure then fails that request. Restores the guest if needed, as a request would.
   */
  async defer(label: string, program: string[], ops: string[]): Promise<void> {
    const g = await this.machine();
    g.defer(label, program, ops);
  }

  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    const g = await this.machine();
    await g.writeFile(path, data);
  }

  async mkdir(path: string): Promise<void> {
    const g = await this.machine();
    await g.mkdir(path);
  }

  /** A file in the 9p share, or null when it does not exist (yet). */
  async readFile(path: string): Promise<Uint8Array | null> {
    // A dead guest is not replaced for a read: its files went with it (pollers see `generation`).
    if (this.guest?.deadReason != null) {
      this.discard(this.guest);
      return null;
    }
    const g = await this.machine();
    try {
      return await g.readFile(path);
    } catch {
      return null;
    }
  }

  /** Waits up to `ms` for the guest to write a file into the share whose name `name` accepts. */
  async shareWrite(ms: number, name: (n: string) => boolean): Promise<void> {
    if (!this.guest || this.guest.deadReason !== null) return sleep(ms);
    return this.guest.shareWrite(ms, name);
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
