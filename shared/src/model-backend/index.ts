// The kernel model as a backend (`--backend model`): the core's Snapshotter and Runtime over the
// TypeScript model of the kernel (shared/src/model), for everything that does not execute a program.
// Pure TypeScript: the tar codec and the host (streams, files, saved state) are given by the caller;
// node.ts has Node's, which saves the snapshots in the store so that CLI commands share one model.

import type { Backend } from '../backend.js';
import { Kernel } from '../model/index.js';
import type { LayerCodec } from './layer.js';
import type { ModelDump } from './dump.js';
import type { ModelHost } from './runtime.js';
import { ModelRuntime } from './runtime.js';
import { loadTree, saveTree } from './persist.js';
import { MODEL_OVERLAY2, ModelSnapshotter } from './snapshotter.js';

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
    const { host } = opts;
    const init = this.kernel.init;
    // With a host that keeps state, every change is saved and a new backend starts from it.
    const save = host.saveState ? () => host.saveState?.(saveTree(init, MODEL_OVERLAY2)) : () => {};
    this.snapshots = new ModelSnapshotter(init, opts.codec, save);
    const saved = host.loadState?.() ?? null;
    if (saved !== null) loadTree(init, MODEL_OVERLAY2, saved);
    this.runtime = new ModelRuntime(this.kernel, host, save);
  }

  async checkPrerequisites(): Promise<void> {
    // The model runs anywhere: no root, no kernel features.
  }

  /** The state container `id` left when its program ended (mount table, layer stack), if it ran here. */
  dump(id: string): ModelDump | null {
    return this.runtime.dumps.get(id) ?? null;
  }
}
