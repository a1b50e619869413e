// The one interface through which the core drives a backend: the real kernel (backend-native), a
// Linux guest in v86 (backend-emu), or the TypeScript kernel model. The core owns metadata (images,
// containers, volumes, content-addressed blobs); a backend owns where layers are materialised and how
// processes run. Shaped after containerd's snapshotter (layer chains) plus a thin OCI-style runtime.

import type { ContainerSpec, PortMapping, ProcessSpec } from './spec.js';

export type BackendKind = 'native' | 'emu' | 'model';

/** A layer tar stream (uncompressed), already verified against its diff ID by the core. */
export type LayerStream = AsyncIterable<Uint8Array>;

/** A file the core wants in a snapshot (the container's init layer). */
export type SnapshotEntry =
  | { kind: 'dir'; path: string; mode: number }
  | { kind: 'file'; path: string; mode: number; content: string }
  | { kind: 'symlink'; path: string; target: string };

/** Where a snapshot's directories live on the backend (overlay2 GraphDriver.Data). */
export interface SnapshotPaths {
  id: string;
  diffDir: string;
  workDir: string | null;
  mergedDir: string | null;
  /** Short link name under overlay2/l/ */
  link: string;
  /** Parent chain below this snapshot, nearest first, as overlay2/l/ paths. */
  lowerLinks: string[];
  /** The same chain as the diff directories themselves (GraphDriver.Data.LowerDir). */
  lowerDirs: string[];
}

/** One line of `docker diff`: Added, Changed or Deleted, relative to the snapshot's parents. */
export interface Change {
  kind: 'A' | 'C' | 'D';
  path: string;
}

/** containerd-style snapshotter over overlay2's directory layout. */
export interface Snapshotter {
  /** Whether a committed snapshot exists and is complete. */
  exists(id: string): Promise<boolean>;
  /** Unpack a layer into a new committed snapshot `id` on top of `parent`. Atomic: all or nothing. */
  apply(id: string, parent: string | null, layer: LayerStream): Promise<SnapshotPaths>;
  /**
   * A writable snapshot `id` on top of `parent`, optionally pre-filled (the `-init` layer) and then
   * committed so that it becomes read-only lower layer material.
   */
  prepare(
    id: string,
    parent: string | null,
    opts?: { entries?: SnapshotEntry[]; commit?: boolean },
  ): Promise<SnapshotPaths>;
  paths(id: string): Promise<SnapshotPaths>;
  /** The snapshot's own layer (its diff dir) as an OCI layer tar: whiteouts become `.wh.` entries. */
  exportDiff(id: string): LayerStream;
  /** What this snapshot changed relative to its parent chain, sorted by path (docker diff). */
  changes(id: string): Promise<Change[]>;
  /** Remove a snapshot, unmounting its merged dir first. Missing snapshots are not an error. */
  remove(id: string): Promise<void>;
  /**
   * The ID of a container whose `ID-init` and `ID` snapshots on `parent` were made ahead of its
   * create (the native warm daemon's), or null: prepare() of those two IDs then takes them over.
   */
  takeAhead?(parent: string): string | null;
}

export interface ExitStatus {
  exitCode: number;
  /** Signal that ended the process, if any (exitCode is then 128 + signal). */
  signal: number | null;
  finishedAt: string;
  oomKilled: boolean;
}

/** How a container's standard streams are wired. */
export type StdioSpec =
  /** Foreground: the caller's own stdin/stdout/stderr (and its terminal when tty). */
  | { kind: 'attach'; tty: boolean; stdin: boolean }
  /** Detached: output appended to a log file; stdin closed. */
  | { kind: 'log'; path: string; tty: boolean };

/** Where a container with its own network landed (docker inspect's NetworkSettings). */
export interface NetworkAttachment {
  ipAddress: string;
  prefixLen: number;
  gateway: string;
  macAddress: string;
  bridge: string;
  /** A bind mount of the container's network namespace (Docker's SandboxKey). */
  sandboxKey: string;
  /** The published ports, host ports resolved. */
  ports: PortMapping[];
}

export interface StartedProcess {
  /** The container's PID 1 as seen from where the backend runs it (host PID for native). */
  pid: number;
  /** The supervisor's PID (the shim), for liveness checks. */
  monitorPid: number;
  /** Resolves when the payload ends (attach mode); undefined for detached processes. */
  exit?: Promise<ExitStatus>;
  /** Bridge networking only. */
  network?: NetworkAttachment;
}

export type RuntimeStatus =
  | { status: 'running'; pid: number }
  | { status: 'exited'; exit: ExitStatus }
  | { status: 'unknown'; reason: string };

export interface Runtime {
  /**
   * Create namespaces, mount the rootfs and the spec's mounts, pivot_root, start the payload.
   * `onExit` is a command the monitor runs where the engine runs once the payload has ended and
   * been cleaned up (a detached `--rm` removes itself this way).
   */
  start(spec: ContainerSpec, stdio: StdioSpec, stateDir: string, onExit?: string[]): Promise<StartedProcess>;
  /** Run another process in a running container's namespaces (docker exec). Resolves to its exit code. */
  exec(
    spec: ContainerSpec,
    pid: number,
    process: ProcessSpec,
    stdio: Extract<StdioSpec, { kind: 'attach' }>,
  ): Promise<number>;
  /** Current state from what the monitor recorded in `stateDir`. */
  status(stateDir: string, pid: number | null, monitorPid: number | null): Promise<RuntimeStatus>;
  kill(pid: number, signal: NodeJS.Signals | number): Promise<void>;
  /** Undo what start() left behind once the process is gone: mounts, cgroups. Idempotent. */
  cleanup(spec: ContainerSpec): Promise<void>;
  /**
   * A start of this container follows at once (`run`): what the runtime can begin while the rest
   * of the container is made (native: its cgroups, whose first task move waits a kernel grace
   * period). What it makes, cleanup() undoes as start()'s own, or the function returned (a
   * create that failed before its start).
   */
  prepareStart?(cgroup: ContainerSpec['cgroup']): () => void;
}

export interface Backend {
  readonly kind: BackendKind;
  readonly snapshots: Snapshotter;
  readonly runtime: Runtime;
  /** The network mode when the user names none (Docker: bridge; rootless or emulated: none). */
  readonly defaultNetwork?: string;
  /** Fails with a clear StrataError when the backend cannot run here (not root, no overlayfs...). */
  checkPrerequisites(): Promise<void>;
}
