// Snapshots made ahead by the warm daemon: the state of the pairs it keeps ready (the snapshotter
// builds and publishes them: Overlay2Snapshotter.refillAhead and prepare).
import fs from 'node:fs';
import path from 'node:path';
import type { SnapshotEntry } from '../../shared/src/backend.js';

/** What the init snapshot's entries were, to compare with what a prepare() asks. */
export const entriesKey = (entries: SnapshotEntry[]): string => JSON.stringify(entries);

/** A container's `ID-init` and `ID` snapshots on `parent`, complete under `dir`, not yet in overlay2/. */
export interface StagedPair {
  id: string;
  parent: string;
  dir: string;
  entriesKey: string;
  initLower: string | null;
  initLink: string;
  rwLink: string;
  takenAt?: number;
}

/**
 * Snapshots made ahead by the warm daemon (one instance for its life, shared by its requests). A
 * container's two snapshots are about 20 files and directories, each an ext4 inode (0.15-0.25 ms
 * here): after a run's answer the daemon builds the next container's pair for the same image under
 * the store's tmp/ (`ahead-PID-ID`), and the next `run` of that image takes them over with two
 * renames and two l/ links. Until then nothing of them is in overlay2/ or l/; a daemon's exit
 * deletes them, and a daemon's start deletes those of a daemon that was killed.
 */
/**
 * What else a pair's container ID gets made ahead (the daemon: its cgroups): `made` once the pair
 * waits, `unused` when a pair that no run took is discarded (never for a taken one: its ID may be a
 * container's by then).
 */
export interface AlongsidePairs {
  made(id: string): void;
  unused(id: string): void;
}

export class SnapshotsAhead {
  alongside: AlongsidePairs | null = null;

  private readonly waiting = new Map<string, StagedPair>(); // by parent
  private readonly taken = new Map<string, StagedPair>(); // by container ID, until both are claimed
  private readonly wanted = new Map<string, SnapshotEntry[]>(); // parents runs used, in use order

  constructor(private readonly tmp: string) {}

  /** Where a pair for container `id` is built: named for this process, so a next daemon knows it. */
  stagingDir(id: string): string {
    return path.join(this.tmp, `ahead-${process.pid}-${id}`);
  }

  want(parent: string, entries: SnapshotEntry[]): void {
    this.wanted.delete(parent);
    this.wanted.set(parent, entries);
    // The few images used last: each waiting pair is ~20 inodes in tmp/.
    while (this.wanted.size > MAX_AHEAD) this.wanted.delete(this.wanted.keys().next().value!);
  }

  /**
   * Parents a run used with no pair waiting or being made, and the init entries to make for them;
   * each is then being made until add() or abandon() (two runs ending at once make one pair).
   */
  missing(): Array<[string, SnapshotEntry[]]> {
    for (const parent of [...this.waiting.keys()])
      if (!this.wanted.has(parent))
        this.discardUnused(this.waiting.get(parent)!, () => this.waiting.delete(parent));
    const todo = [...this.wanted].filter(([parent]) => !this.waiting.has(parent) && !this.making.has(parent));
    for (const [parent] of todo) this.making.add(parent);
    return todo;
  }

  add(pair: StagedPair): void {
    this.making.delete(pair.parent);
    this.waiting.set(pair.parent, pair);
    try {
      this.alongside?.made(pair.id);
    } catch {
      /* the run makes them, as without */
    }
  }

  abandon(parent: string): void {
    this.making.delete(parent);
  }

  private readonly making = new Set<string>();

  take(parent: string): string | null {
    // A create that failed after taking its pair (a name in use...) never claims it.
    const now = Date.now();
    for (const [id, pair] of [...this.taken])
      if (now - (pair.takenAt ?? now) > 60_000) this.discardUnused(pair, () => this.taken.delete(id));
    const pair = this.waiting.get(parent);
    if (!pair) return null;
    this.waiting.delete(parent);
    this.taken.set(pair.id, { ...pair, takenAt: now });
    return pair.id;
  }

  /**
   * The staged directory of snapshot `id` when it was made ahead as this prepare() asks (the init
   * snapshot on the same image chain with the same entries, or the read-write one on it); null
   * otherwise, the pair then discarded and the snapshot built as usual.
   */
  async claim(
    id: string,
    parent: string | null,
    entries: SnapshotEntry[],
    commit: boolean,
    lowerFor: (parent: string | null) => Promise<string | null>,
  ): Promise<{ dir: string; link: string } | null> {
    const isInit = id.endsWith(INIT);
    const cid = containerOf(id);
    const pair = this.taken.get(cid);
    if (!pair) return null;
    const drop = () => this.taken.delete(cid);
    if (isInit) {
      // The image's layers may have been removed and unpacked again since (new l/ names).
      const same =
        commit &&
        parent === pair.parent &&
        entriesKey(entries) === pair.entriesKey &&
        (await lowerFor(parent)) === pair.initLower;
      if (!same) return this.discard(pair, drop);
      return { dir: path.join(pair.dir, id), link: pair.initLink };
    }
    if (commit || parent !== `${cid}${INIT}` || !fs.existsSync(path.join(pair.dir, id)))
      return this.discard(pair, drop);
    drop();
    // Its init snapshot was taken over just before: the staging directory holds only this one.
    return { dir: path.join(pair.dir, id), link: pair.rwLink };
  }

  /** A pair whose staged snapshot could not be taken over. */
  forget(id: string): void {
    const cid = containerOf(id);
    const pair = this.taken.get(cid);
    if (pair) this.discard(pair, () => this.taken.delete(cid));
  }

  /** Every pair still waiting or half claimed (the daemon's exit). */
  discardAll(): void {
    for (const pair of this.waiting.values()) this.discardUnused(pair, () => undefined);
    for (const pair of this.taken.values()) fs.rmSync(pair.dir, { recursive: true, force: true });
    this.waiting.clear();
    this.taken.clear();
  }

  /** A pair no run took (or took and never claimed in a minute: its create failed long ago). */
  private discardUnused(pair: StagedPair, forget: () => void): void {
    this.discard(pair, forget);
    try {
      this.alongside?.unused(pair.id);
    } catch {
      /* left for the host's next boot */
    }
  }

  private discard(pair: StagedPair, forget: () => void): null {
    forget();
    fs.rmSync(pair.dir, { recursive: true, force: true });
    return null;
  }
}

const INIT = '-init';

/** The container a snapshot ID belongs to: its own, or the one of its `-init` snapshot. */
const containerOf = (id: string): string => (id.endsWith(INIT) ? id.slice(0, -INIT.length) : id);

/** Images whose next container's snapshots the daemon keeps ready. */
const MAX_AHEAD = 3;
