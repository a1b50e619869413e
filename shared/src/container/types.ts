// A container's record, in the shape of Docker's config.v2.json / `docker inspect` output.
import type { ContainerConfig as ImageRuntimeConfig } from '../oci/types.js';

export type ContainerStatus = 'created' | 'running' | 'exited' | 'dead' | 'removing';

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
}

export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** Strata: the volume was created for this container only (-v /path), removed by rm -v. */
  Anonymous?: boolean;
}

export interface ContainerConfig extends ImageRuntimeConfig {
  Hostname: string;
  Domainname: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  Tty: boolean;
  OpenStdin: boolean;
  Image: string;
}

/** Docker's port map: "80/tcp" -> the host addresses it is published on. */
export interface PortBinding {
  HostIp: string;
  HostPort: string;
}
export type PortMap = Record<string, PortBinding[]>;

/** docker inspect's NetworkSettings (the default bridge's fields, flattened as Docker shows them). */
export interface NetworkSettings {
  Bridge: string;
  SandboxKey: string;
  Ports: PortMap;
  IPAddress: string;
  IPPrefixLen: number;
  Gateway: string;
  MacAddress: string;
}

export interface HostConfig {
  Binds: string[];
  AutoRemove: boolean;
  Init: boolean;
  /** bridge, none, host or container:<id> (the ID resolved at create, as Docker records it). */
  NetworkMode: string;
  /** -p, as Docker records it (host ports as asked: "" when the backend picks). */
  PortBindings?: PortMap;
  /** -P */
  PublishAllPorts?: boolean;
  ReadonlyRootfs: boolean;
  /** --cap-add / --cap-drop as given (Docker's form: names without CAP_ are accepted). */
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  Privileged?: boolean;
  /** --security-opt; seccomp=FILE holds the file's JSON, as Docker stores it. */
  SecurityOpt?: string[] | null;
  /** --tmpfs: destination -> mount options. */
  Tmpfs?: Record<string, string>;
  /** Limits as Docker records them: bytes, -1 for unlimited swap, 0 for unset. */
  Memory: number;
  MemorySwap: number;
  PidsLimit: number;
  NanoCpus: number;
  CpuShares: number;
}

export interface ContainerRecord {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerState;
  Image: string;
  Name: string;
  Driver: 'overlay2';
  Config: ContainerConfig;
  HostConfig: HostConfig;
  Mounts: MountPoint[];
  /** Filled at start for containers with their own network (absent in records from before). */
  NetworkSettings?: NetworkSettings;
  GraphDriver: {
    Name: 'overlay2';
    Data: { LowerDir: string; UpperDir: string; MergedDir: string; WorkDir: string };
  };
  /** Strata's own bookkeeping (not in Docker's output). */
  Strata: {
    backend: string;
    /** overlay2 snapshot ids: the container's read-write layer and its -init layer. */
    layerId: string;
    initLayerId: string;
    /** Snapshot of the top image layer, null for an image with no layers. */
    imageTopLayerId: string | null;
    monitorPid: number;
    cgroupPath: string;
  };
}

export function initialState(): ContainerState {
  return {
    Status: 'created',
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 0,
    ExitCode: 0,
    Error: '',
    StartedAt: '0001-01-01T00:00:00Z',
    FinishedAt: '0001-01-01T00:00:00Z',
  };
}
