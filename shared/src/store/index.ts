// The on-disk store (Node only): layout, content-addressed blobs, images, containers, volumes.
import { BlobStore } from './blobs.js';
import { ContainerStore } from './containers.js';
import { ImageStore } from './images.js';
import { DEFAULT_ROOT, StoreLayout } from './layout.js';
import { VolumeStore } from './volumes.js';

export class Store {
  readonly layout: StoreLayout;
  readonly blobs: BlobStore;
  readonly images: ImageStore;
  readonly containers: ContainerStore;
  readonly volumes: VolumeStore;

  constructor(root: string = DEFAULT_ROOT) {
    this.layout = new StoreLayout(root);
    this.layout.create();
    this.blobs = new BlobStore(this.layout);
    this.images = new ImageStore(this.layout);
    this.containers = new ContainerStore(this.layout);
    this.volumes = new VolumeStore(this.layout);
  }
}

export { DEFAULT_ROOT, StoreLayout } from './layout.js';
export type { LayerRecord, ImageRecord } from './images.js';
export type { VolumeRecord } from './volumes.js';
export * from './digest.js';
