// The kernel model: public API.
export { ModelError, isModelError } from './errors.js';
export type { Errno } from './errors.js';
export { MemFs, isWhiteout, removeTree, tryLstat } from './fs.js';
export type { CreateOptions, FileKind, FileSystem, Stat } from './fs.js';
export { OverlayFs, OPAQUE_XATTR } from './overlay.js';
export type { Layer, OverlayLayers } from './overlay.js';
export { ProcFs } from './procfs.js';
export {
  Kernel,
  Mount,
  MountNamespace,
  Namespace,
  NS_KINDS,
  PidNamespace,
  Process,
  SuperBlock,
  UtsNamespace,
  subtree,
} from './kernel.js';
export type {
  CloneMountFlags,
  CloneOptions,
  KernelOptions,
  KernelRelease,
  LookupOptions,
  MountFlag,
  MountOptions,
  Namespaces,
  NsKind,
  PathRef,
  Propagation,
} from './kernel.js';
export { renderTree, snapshotTree } from './tree.js';
export type { SnapshotOptions, TreeEntry, TreeReader } from './tree.js';
