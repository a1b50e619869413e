// Where everything lives under the store root (default /var/lib/strata), following Docker's
// overlay2 layout so that the write-ups' tours of /var/lib/docker apply unchanged. docs/store.md.
import path from 'node:path';
import { ensureDir } from './fsutil.js';

export { DEFAULT_ROOT } from './default-root.js';

export class StoreLayout {
  constructor(readonly root: string) {}

  get overlay2(): string {
    return path.join(this.root, 'overlay2');
  }
  get shortLinks(): string {
    return path.join(this.overlay2, 'l');
  }
  get imageDir(): string {
    return path.join(this.root, 'image', 'overlay2');
  }
  get imageDb(): string {
    return path.join(this.imageDir, 'imagedb', 'content', 'sha256');
  }
  get imageMeta(): string {
    return path.join(this.imageDir, 'imagedb', 'metadata', 'sha256');
  }
  get layerDb(): string {
    return path.join(this.imageDir, 'layerdb', 'sha256');
  }
  get repositories(): string {
    return path.join(this.imageDir, 'repositories.json');
  }
  get blobs(): string {
    return path.join(this.root, 'blobs', 'sha256');
  }
  get containers(): string {
    return path.join(this.root, 'containers');
  }
  get names(): string {
    return path.join(this.root, 'containers', '.names');
  }
  get volumes(): string {
    return path.join(this.root, 'volumes');
  }
  get tmp(): string {
    return path.join(this.root, 'tmp');
  }
  get locks(): string {
    return path.join(this.root, 'locks');
  }
  container(id: string): string {
    return path.join(this.containers, id);
  }
  lock(name: string): string {
    return path.join(this.locks, `${name}.lock`);
  }

  create(): void {
    for (const d of [
      this.overlay2,
      this.shortLinks,
      this.imageDb,
      this.imageMeta,
      this.layerDb,
      this.blobs,
      this.containers,
      this.names,
      this.volumes,
      this.tmp,
      this.locks,
    ]) {
      ensureDir(d);
    }
  }
}
