// Container records: containers/<id>/config.v2.json (written atomically), names reserved with an
// exclusive create so two concurrent `run --name x` cannot both win.
import fs from 'node:fs';
import path from 'node:path';
import { ConflictError, NotFoundError, StrataError } from '../errors.js';
import type { ContainerRecord } from '../container/types.js';
import { atomicWriteJson, listDir, readJsonIfExists, readTextIfExists, removeTree } from './fsutil.js';
import type { StoreLayout } from './layout.js';

const RECORD = 'config.v2.json';
let heldCount = 0;

export class ContainerStore {
  /**
   * Set by the warm native daemon (cli/src/native-daemon.ts): takes a removed container's directory
   * and its name file over (renamed out of containers/ at once, deleted after the run's answer);
   * null: deleted here.
   */
  removeLater: ((entry: string) => void) | null = null;

  constructor(private readonly layout: StoreLayout) {}

  dir(id: string): string {
    return this.layout.container(id);
  }

  /** Claim a name for a container ID; fails with Docker's message if another container has it. */
  reserveName(name: string, id: string): void {
    const file = path.join(this.layout.names, name);
    try {
      fs.writeFileSync(file, id, { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = readTextIfExists(file)?.trim() ?? '';
      if (owner && !fs.existsSync(this.dir(owner))) {
        // Left by a process killed between reserving and creating: reclaim it.
        fs.writeFileSync(file, id);
        return;
      }
      throw new ConflictError(
        `Conflict. The container name "/${name}" is already in use by container "${owner}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
  }

  releaseName(name: string, id: string): void {
    const file = path.join(this.layout.names, name);
    if (readTextIfExists(file)?.trim() !== id) return;
    // Put aside too when the daemon defers deletions: an unlink that frees an inode is ~0.25 ms of
    // ext4 journal work on a run's path, a rename ~0.02.
    if (this.removeLater) this.removeLater(file);
    else fs.rmSync(file, { force: true });
  }

  create(rec: ContainerRecord): void {
    fs.mkdirSync(this.dir(rec.Id), { mode: 0o710 });
    this.save(rec);
  }

  save(rec: ContainerRecord): void {
    const file = path.join(this.dir(rec.Id), RECORD);
    // The record a save replaces is freed by the rename: about 1 ms of ext4 work on this disk, on a
    // run's path. With the daemon's deferred deletions, a second link to it goes aside first, so
    // the rename frees nothing and the inode goes after the answer.
    if (this.removeLater && fs.existsSync(file)) {
      const held = `${file}.replaced-${process.pid}-${++heldCount}`;
      try {
        fs.linkSync(file, held);
        this.removeLater(held);
      } catch {
        /* the record changed meanwhile: replaced the usual way */
      }
    }
    atomicWriteJson(file, rec);
  }

  get(id: string): ContainerRecord | null {
    return readJsonIfExists<ContainerRecord>(path.join(this.dir(id), RECORD));
  }

  ids(): string[] {
    return listDir(this.layout.containers).filter((d) => /^[a-f0-9]{64}$/.test(d));
  }

  list(): ContainerRecord[] {
    return this.ids()
      .map((id) => this.get(id))
      .filter((r): r is ContainerRecord => r !== null)
      .sort((a, b) => b.Created.localeCompare(a.Created));
  }

  /** Find a container by full ID, unique ID prefix or name, as Docker does. */
  find(ref: string): ContainerRecord {
    const name = ref.replace(/^\//, '');
    const byName = readTextIfExists(path.join(this.layout.names, name))?.trim();
    if (byName) {
      const rec = this.get(byName);
      if (rec) return rec;
    }
    if (/^[a-f0-9]+$/.test(ref)) {
      const matches = this.ids().filter((id) => id.startsWith(ref));
      if (matches.length > 1) throw new StrataError(`multiple IDs found with provided prefix: ${ref}`);
      if (matches.length === 1) {
        const rec = this.get(matches[0]!);
        if (rec) return rec;
      }
    }
    throw new NotFoundError(`No such container: ${ref}`);
  }

  remove(rec: ContainerRecord): void {
    const dir = this.dir(rec.Id);
    if (this.removeLater && fs.existsSync(dir)) this.removeLater(dir);
    else removeTree(dir);
    this.releaseName(rec.Name.replace(/^\//, ''), rec.Id);
  }
}
