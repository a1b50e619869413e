// Image metadata as Docker's image/overlay2 keeps it: imagedb (config blobs by image ID), layerdb
// (one dir per ChainID: diff, cache-id, parent, size) and repositories.json (name:tag -> image ID).
import fs from 'node:fs';
import path from 'node:path';
import { type Digest, DigestMismatchError, hexOf, isDigest, sha256 } from './digest.js';
import {
  atomicWrite,
  atomicWriteJson,
  listDir,
  readJsonIfExists,
  readTextIfExists,
  removeTree,
  withLock,
} from './fsutil.js';
import type { StoreLayout } from './layout.js';
import { NotFoundError, StrataError } from '../errors.js';
import type { ImageConfig } from '../oci/types.js';
import { familiarString, parseReference } from '../reference.js';

export interface LayerRecord {
  chainId: Digest;
  diffId: Digest;
  /** overlay2 snapshot directory name */
  cacheId: string;
  parent: Digest | null;
  size: number;
}

export interface ImageRecord {
  id: Digest;
  config: ImageConfig;
  configBytes: Buffer;
}

interface Repositories {
  Repositories: Record<string, Record<string, string>>;
}

export class ImageStore {
  constructor(private readonly layout: StoreLayout) {}

  // --- layers ---------------------------------------------------------------------------------

  getLayer(chainId: string): LayerRecord | null {
    const dir = path.join(this.layout.layerDb, hexOf(chainId));
    const diff = readTextIfExists(path.join(dir, 'diff'));
    const cacheId = readTextIfExists(path.join(dir, 'cache-id'));
    if (diff === null || cacheId === null) return null;
    const parent = readTextIfExists(path.join(dir, 'parent'));
    return {
      chainId: chainId as Digest,
      diffId: diff.trim() as Digest,
      cacheId: cacheId.trim(),
      parent: parent ? (parent.trim() as Digest) : null,
      size: Number(readTextIfExists(path.join(dir, 'size')) ?? 0),
    };
  }

  /** Record a layer after its snapshot is complete: the rename of the dir is the commit point. */
  putLayer(rec: LayerRecord): void {
    const final = path.join(this.layout.layerDb, hexOf(rec.chainId));
    if (fs.existsSync(final)) return;
    const tmp = fs.mkdtempSync(path.join(this.layout.tmp, 'layer-'));
    fs.writeFileSync(path.join(tmp, 'diff'), rec.diffId);
    fs.writeFileSync(path.join(tmp, 'cache-id'), rec.cacheId);
    if (rec.parent) fs.writeFileSync(path.join(tmp, 'parent'), rec.parent);
    fs.writeFileSync(path.join(tmp, 'size'), String(rec.size));
    try {
      fs.renameSync(tmp, final);
    } catch (e) {
      removeTree(tmp);
      if (!['EEXIST', 'ENOTEMPTY'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    }
  }

  removeLayer(chainId: string): void {
    removeTree(path.join(this.layout.layerDb, hexOf(chainId)));
  }

  listLayers(): LayerRecord[] {
    return listDir(this.layout.layerDb)
      .map((hex) => this.getLayer(`sha256:${hex}`))
      .filter((l): l is LayerRecord => l !== null);
  }

  // --- images ---------------------------------------------------------------------------------

  putImage(configBytes: Buffer): Digest {
    const id = sha256(configBytes);
    const file = path.join(this.layout.imageDb, hexOf(id));
    if (!fs.existsSync(file)) atomicWrite(file, configBytes);
    return id;
  }

  setImageMeta(id: string, key: string, value: string): void {
    const dir = path.join(this.layout.imageMeta, hexOf(id));
    fs.mkdirSync(dir, { recursive: true });
    atomicWrite(path.join(dir, key), value);
  }

  getImageMeta(id: string, key: string): string | null {
    return readTextIfExists(path.join(this.layout.imageMeta, hexOf(id), key));
  }

  getImage(id: string): ImageRecord {
    const file = path.join(this.layout.imageDb, hexOf(id));
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch {
      throw new NotFoundError(`No such image: ${id}`);
    }
    const actual = sha256(bytes);
    if (actual !== id) throw new DigestMismatchError(`image config ${file}`, id, actual);
    let config: ImageConfig;
    try {
      config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
    } catch (e) {
      throw new StrataError(`image config ${file} is not valid JSON: ${(e as Error).message}`);
    }
    return { id: id as Digest, config, configBytes: bytes };
  }

  hasImage(id: string): boolean {
    return isDigest(id) && fs.existsSync(path.join(this.layout.imageDb, hexOf(id)));
  }

  listImageIds(): Digest[] {
    return listDir(this.layout.imageDb)
      .filter((h) => /^[a-f0-9]{64}$/.test(h))
      .map((h) => `sha256:${h}` as Digest);
  }

  removeImage(id: string): void {
    fs.rmSync(path.join(this.layout.imageDb, hexOf(id)), { force: true });
    removeTree(path.join(this.layout.imageMeta, hexOf(id)));
  }

  /** The image's layer records, bottom first; fails if any layer is missing from the store. */
  layersOf(image: ImageRecord): LayerRecord[] {
    let chain: Digest | null = null;
    const out: LayerRecord[] = [];
    for (const diffId of image.config.rootfs.diff_ids) {
      chain = chain === null ? (diffId as Digest) : sha256(`${chain} ${diffId}`);
      const layer = this.getLayer(chain);
      if (!layer)
        throw new StrataError(`image ${image.id.slice(7, 19)}: layer ${diffId} is missing from the store`);
      out.push(layer);
    }
    return out;
  }

  // --- names ----------------------------------------------------------------------------------

  private readRepositories(): Repositories {
    return readJsonIfExists<Repositories>(this.layout.repositories) ?? { Repositories: {} };
  }

  tags(): Map<string, Digest> {
    const out = new Map<string, Digest>();
    for (const refs of Object.values(this.readRepositories().Repositories)) {
      for (const [ref, id] of Object.entries(refs)) out.set(ref, id as Digest);
    }
    return out;
  }

  tagsOf(id: string): string[] {
    return [...this.tags()].filter(([, v]) => v === id).map(([k]) => k);
  }

  tag(reference: string, id: Digest): void {
    const ref = parseReference(reference);
    const full = familiarString(ref);
    const repo = full.slice(
      0,
      full.length - (ref.digest ? ref.digest.length + 1 : (ref.tag ?? '').length + 1),
    );
    withLock(this.layout.lock('repositories'), () => {
      const repos = this.readRepositories();
      (repos.Repositories[repo] ??= {})[full] = id;
      atomicWriteJson(this.layout.repositories, repos);
    });
  }

  /** Remove a name; returns the image ID it pointed to. */
  untag(reference: string): Digest | null {
    const full = familiarString(parseReference(reference));
    return withLock(this.layout.lock('repositories'), () => {
      const repos = this.readRepositories();
      for (const [repo, refs] of Object.entries(repos.Repositories)) {
        const id = refs[full];
        if (id !== undefined) {
          delete refs[full];
          if (Object.keys(refs).length === 0) delete repos.Repositories[repo];
          atomicWriteJson(this.layout.repositories, repos);
          return id as Digest;
        }
      }
      return null;
    });
  }

  /** Resolve what a user typed: a name[:tag], a full or short image ID. */
  resolve(input: string): Digest | null {
    if (/^sha256:[a-f0-9]{64}$/.test(input)) return this.hasImage(input) ? (input as Digest) : null;
    const hexPrefix = input.replace(/^sha256:/, '');
    if (/^[a-f0-9]{12,64}$/.test(hexPrefix)) {
      const matches = this.listImageIds().filter((id) => id.slice(7).startsWith(hexPrefix));
      if (matches.length === 1) return matches[0]!;
    }
    let full: string;
    try {
      full = familiarString(parseReference(input));
    } catch {
      return null;
    }
    return this.tags().get(full) ?? null;
  }
}
