// The kernel model as a backend (`--backend model`): the core's Snapshotter and Runtime over the
// TypeScript model of the kernel (shared/src/model), for everything that does not execute a program.
// Pure TypeScript: the tar codec and the host (streams, files) are given by the caller; node.ts has
// Node's. State lives in this object's memory: one process, like the emu backend's guest.

import type { Backend } from '../backend.js';
import { Kernel } from '../model/index.js';
import type { LayerCodec } from './layer.js';
import type { ModelDump } from './dump.js';
import type { ModelHost } from './runtime.js';
import { ModelRuntime } from './runtime.js';
import { ModelSnapshotter } from './snapshotter.js';

export type { LayerCodec, LayerEntry } from './layer.js';
export type { DumpFile, DumpLayer, DumpOverlay, ModelDump } from './dump.js';
export { renderDump } from './dump.js';
export type { ModelHost } from './runtime.js';
export { MODEL_COMMANDS } from './program.js';
export { MODEL_OVERLAY2 } from './snapshotter.js';

export interface ModelBackendOptions {
  codec: LayerCodec;
  host: ModelHost;
  /** The kernel to run on (a fresh one with a systemd-like shared root by default). */
  kernel?: Kernel;
}

export class ModelBackend implements Backend {
  readonly kind = 'model' as const;
  /** No network is modelled: containers get their own empty network namespace. */
  readonly defaultNetwork = 'none';
  readonly kernel: Kernel;
  readonly snapshots: ModelSnapshotter;
  readonly runtime: ModelRuntime;

  constructor(opts: ModelBackendOptions) {
    this.kernel = opts.kernel ?? new Kernel({ sharedRoot: true });
    this.snapshots = new ModelSnapshotter(this.kernel.init, opts.codec);
    this.runtime = new ModelRuntime(this.kernel, opts.host);
  }

  async checkPrerequisites(): Promise<void> {
    // The model runs anywhere: no root, no kernel features.
  }

  /** The state container `id` left when its program ended (mount table, layer stack), if it ran here. */
  dump(id: string): ModelDump | null {
    return this.runtime.dumps.get(id) ?? null;
  }
}
