// The scenario format (docs/scenarios.md): layers to start from, then steps a process runs. Every
// path is absolute inside the scenario's world: a fresh tmpfs the runner pivots into first, so a
// scenario never sees (or depends on) the machine it runs on.

import type { NsKind } from '../model/index.js';

/** One entry of a layer, keyed by its path inside the layer. A string is a regular file's content. */
export type LayerEntry =
  | string
  | { type: 'file'; content: string; mode?: number }
  | { type: 'dir'; mode?: number; opaque?: boolean }
  | { type: 'symlink'; target: string }
  /** overlayfs's deletion marker: a character device 0/0. */
  | { type: 'whiteout' };

/** What an `unshare` step does to the new mount namespace's propagation (unshare(1) --propagation). */
export type UnsharePropagation = 'private' | 'shared' | 'slave' | 'unchanged';

export type PropagationOp = 'make-private' | 'make-shared' | 'make-slave' | 'make-unbindable';

export type Step =
  /** Fork a child into new namespaces; the following steps run in the child, the parent waits. */
  | { op: 'unshare'; ns: NsKind[]; propagation: UnsharePropagation }
  /** A new filesystem: `options` as mount(8) -o ("ro,size=1m,mode=755"). */
  | { op: 'mount'; type: string; source: string; target: string; options: string[] }
  | { op: 'bind'; source: string; target: string; recursive: boolean; readonly: boolean }
  | { op: PropagationOp; target: string; recursive: boolean }
  | { op: 'move'; source: string; target: string }
  | { op: 'umount'; target: string; detach: boolean }
  | { op: 'overlay'; lower: string[]; upper: string | null; work: string | null; target: string }
  | { op: 'pivot_root'; new_root: string; put_old: string }
  | { op: 'chroot'; path: string }
  | { op: 'chdir'; path: string }
  | { op: 'write'; path: string; content: string; append: boolean }
  | { op: 'delete'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'rmdir'; path: string }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'symlink'; target: string; path: string };

export type StepOp = Step['op'];

export interface Scenario {
  /** Where it came from (a file name), for error messages. */
  name: string;
  description: string;
  /** Layer directories created before the steps, keyed by their path in the world. */
  layers: Record<string, Record<string, LayerEntry>>;
  steps: Step[];
  /** Directories listed in the result; by default every overlay's target and upper dir. */
  trees: string[];
  /** Expected outcome ("ok" or an errno name) per step index, checked by the runners' callers. */
  expect: Record<number, string>;
}
