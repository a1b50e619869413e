// What a container is made of, in the shape of the OCI runtime spec (config.json), trimmed to what
// Strata uses. The core builds it; every backend executes it. Paths in `root` and mount sources are
// backend-side paths (host paths for native, guest paths for emu, model paths for the model).

import type { SecuritySpec } from './security.js';

export type NamespaceKind = 'mount' | 'uts' | 'ipc' | 'network' | 'pid' | 'cgroup' | 'user';

/** One mount, applied in order, after the root filesystem is in place, before pivot_root. */
export interface MountSpec {
  /** Absolute path inside the container. */
  destination: string;
  /** 'bind' for bind mounts; otherwise a filesystem type (tmpfs, proc, sysfs, devpts, mqueue). */
  type: string;
  source: string;
  /** Mount flags and fs data in OCI form: 'ro', 'nosuid', 'rbind', 'mode=755', ... */
  options: string[];
}

/** Device node created in the container's /dev (character devices only). */
export interface DeviceSpec {
  path: string;
  major: number;
  minor: number;
  mode: number;
}

/** The overlay that becomes the root filesystem (Docker's overlay2 GraphDriver.Data). */
export interface RootfsSpec {
  /** Lower layers, topmost first as in overlayfs's lowerdir (the init layer comes first). */
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  mergedDir: string;
  readonly: boolean;
}

export interface ProcessSpec {
  args: string[];
  env: string[];
  cwd: string;
  /** Docker's --user form: '', 'name', 'uid', 'name:group', 'uid:gid'; resolved by the backend in the
   * container's own /etc/passwd and /etc/group once the rootfs is mounted. */
  user: string;
  terminal: boolean;
}

export interface CgroupLimits {
  memoryBytes?: number;
  memorySwapBytes?: number;
  pidsLimit?: number;
  cpuQuotaMicros?: number;
  cpuPeriodMicros?: number;
  cpuShares?: number;
}

/** One published port: connections to hostIp:hostPort reach the container's containerPort. */
export interface PortMapping {
  /** '' means every host address (Docker's 0.0.0.0). */
  hostIp: string;
  /** 0: the backend picks a free port (-P, or -p with the container port only). */
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** How the container is networked (docker run --network). */
export type NetworkSpec =
  /** Its own network namespace with only loopback, up. */
  | { mode: 'none' }
  /** The host's network namespace. */
  | { mode: 'host' }
  /** Another container's network namespace, joined through its PID 1. */
  | { mode: 'container'; pid: number }
  /**
   * Its own network namespace on the backend's bridge: an address, a default route, published
   * ports. The backend adds the address line for `hostname` to `hostsFile` (the container's
   * /etc/hosts, a backend-side path) before the payload starts.
   */
  | { mode: 'bridge'; ports: PortMapping[]; hostsFile: string };

export interface ContainerSpec {
  id: string;
  hostname: string;
  rootfs: RootfsSpec;
  process: ProcessSpec;
  namespaces: NamespaceKind[];
  mounts: MountSpec[];
  devices: DeviceSpec[];
  /** Run a reaping, signal-forwarding init as PID 1 (docker run --init). */
  init: boolean;
  cgroup: { path: string; limits: CgroupLimits };
  /** Absent: 'none' (a spec from before networking existed). */
  network?: NetworkSpec;
  /** Capabilities, no_new_privs, masked paths, seccomp (shared/src/security.ts). Absent: unconfined. */
  security?: SecuritySpec;
}

/** Docker's defaults for /dev, /proc, /sys and friends, in runc's order. */
export function defaultMounts(): MountSpec[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
  ];
}

export function defaultDevices(): DeviceSpec[] {
  return [
    { path: '/dev/null', major: 1, minor: 3, mode: 0o666 },
    { path: '/dev/zero', major: 1, minor: 5, mode: 0o666 },
    { path: '/dev/full', major: 1, minor: 7, mode: 0o666 },
    { path: '/dev/random', major: 1, minor: 8, mode: 0o666 },
    { path: '/dev/urandom', major: 1, minor: 9, mode: 0o666 },
    { path: '/dev/tty', major: 5, minor: 0, mode: 0o666 },
  ];
}

/** Symlinks runc adds to /dev. */
export const DEV_SYMLINKS: ReadonlyArray<readonly [string, string]> = [
  ['/dev/fd', '/proc/self/fd'],
  ['/dev/stdin', '/proc/self/fd/0'],
  ['/dev/stdout', '/proc/self/fd/1'],
  ['/dev/stderr', '/proc/self/fd/2'],
  ['/dev/ptmx', 'pts/ptmx'],
  ['/dev/core', '/proc/kcore'],
];

export const ALL_CONTAINER_NAMESPACES: NamespaceKind[] = ['mount', 'uts', 'ipc', 'network', 'pid', 'cgroup'];
