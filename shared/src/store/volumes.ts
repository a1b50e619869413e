// Local volumes: volumes/<name>/_data on the host, bind-mounted into containers (docker volume).
import fs from 'node:fs';
import path from 'node:path';
import { ConflictError, NotFoundError, StrataError } from '../errors.js';
import { atomicWriteJson, listDir, readJsonIfExists, removeTree } from './fsutil.js';
import type { StoreLayout } from './layout.js';

export interface VolumeRecord {
  CreatedAt: string;
  Driver: 'local';
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: 'local';
  Anonymous: boolean;
}

const VALID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export class VolumeStore {
  constructor(private readonly layout: StoreLayout) {}

  private meta(name: string): string {
    return path.join(this.layout.volumes, name, 'volume.json');
  }

  create(name: string, opts: { anonymous?: boolean; labels?: Record<string, string> } = {}): VolumeRecord {
    if (!VALID.test(name)) {
      throw new StrataError(
        `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      );
    }
    const existing = this.get(name);
    if (existing) return existing;
    const dir = path.join(this.layout.volumes, name);
    fs.mkdirSync(path.join(dir, '_data'), { recursive: true, mode: 0o755 });
    const rec: VolumeRecord = {
      CreatedAt: new Date().toISOString(),
      Driver: 'local',
      Labels: opts.labels ?? null,
      Mountpoint: path.join(dir, '_data'),
      Name: name,
      Options: null,
      Scope: 'local',
      Anonymous: opts.anonymous ?? false,
    };
    atomicWriteJson(this.meta(name), rec);
    return rec;
  }

  get(name: string): VolumeRecord | null {
    return readJsonIfExists<VolumeRecord>(this.meta(name));
  }

  find(name: string): VolumeRecord {
    const v = this.get(name);
    if (!v) throw new NotFoundError(`get ${name}: no such volume`);
    return v;
  }

  list(): VolumeRecord[] {
    return listDir(this.layout.volumes)
      .map((n) => this.get(n))
      .filter((v): v is VolumeRecord => v !== null);
  }

  /** Remove a volume; `usedBy` lists containers still referencing it (Docker refuses then). */
  remove(name: string, usedBy: string[], force = false): void {
    if (!this.get(name)) {
      if (force) return;
      throw new NotFoundError(`get ${name}: no such volume`);
    }
    if (usedBy.length > 0) {
      throw new ConflictError(`remove ${name}: volume is in use - [${usedBy.join(', ')}]`);
    }
    removeTree(path.join(this.layout.volumes, name));
  }
}
