// docker run's --network, -p and -P, as the engine records them (HostConfig, Config.ExposedPorts),
// turns them into the runtime's NetworkSpec, and shows the result (NetworkSettings).
import type { NetworkAttachment } from '../backend.js';
import type { NetworkSettings, PortMap } from '../container/types.js';
import type { ContainerRecord } from '../container/types.js';
import type { NetworkSpec, PortMapping } from '../spec.js';
import type { EmptyObject } from '../oci/types.js';
import type { PublishOption, RunOptions } from './run-options.js';

export interface NetworkConfig {
  mode: string;
  portBindings: PortMap;
  publishAll: boolean;
  /** The image's EXPOSE plus every -p container port, as Docker records Config.ExposedPorts. */
  exposedPorts: Record<string, EmptyObject>;
}

/** The container whose network namespace `mode` joins (`container:X`: X), else null. */
export function joinedContainer(mode: string): string | null {
  return mode.startsWith('container:') ? mode.slice('container:'.length) : null;
}

const portKey = (p: { containerPort: number; protocol: string }) => `${p.containerPort}/${p.protocol}`;

/** `resolve` maps container:NAME to the container's full ID (throws NotFoundError when missing). */
export function networkConfig(
  opts: RunOptions,
  imageExposed: Record<string, EmptyObject> | undefined,
  resolve: (ref: string) => string,
): NetworkConfig {
  let mode = opts.network ?? 'bridge';
  const joined = joinedContainer(mode);
  if (joined !== null) mode = `container:${resolve(joined)}`;
  const portBindings: PortMap = {};
  for (const p of opts.publish ?? []) {
    (portBindings[portKey(p)] ??= []).push({
      HostIp: p.hostIp,
      HostPort: p.hostPort === 0 ? '' : String(p.hostPort),
    });
  }
  const exposedPorts: Record<string, EmptyObject> = { ...(imageExposed ?? {}) };
  for (const k of Object.keys(portBindings)) exposedPorts[k] = {};
  return { mode, portBindings, publishAll: opts.publishAll === true, exposedPorts };
}

function parseKey(key: string): Pick<PublishOption, 'containerPort' | 'protocol'> | null {
  const m = /^(\d+)(?:\/(tcp|udp))?$/.exec(key);
  return m ? { containerPort: Number(m[1]), protocol: (m[2] ?? 'tcp') as 'tcp' | 'udp' } : null;
}

/** -p bindings, plus with -P every exposed port not bound yet, on a port the backend picks. */
export function publishedPorts(rec: ContainerRecord): PortMapping[] {
  const out: PortMapping[] = [];
  const bindings = rec.HostConfig.PortBindings ?? {};
  for (const [key, list] of Object.entries(bindings)) {
    const k = parseKey(key);
    if (!k) continue;
    for (const b of list)
      out.push({ ...k, hostIp: b.HostIp, hostPort: b.HostPort === '' ? 0 : Number(b.HostPort) });
  }
  if (rec.HostConfig.PublishAllPorts) {
    for (const key of Object.keys(rec.Config.ExposedPorts ?? {})) {
      const k = parseKey(key);
      if (k && !(key in bindings)) out.push({ ...k, hostIp: '', hostPort: 0 });
    }
  }
  return out;
}

/**
 * The runtime's view. For container:ID, `pidOf` gives that container's PID 1, or null when it is not
 * running: the spec then carries PID 0, which only start() refuses (cleanup must still work).
 */
export async function networkSpec(
  rec: ContainerRecord,
  hostsFile: string,
  pidOf: (id: string) => Promise<number | null>,
): Promise<NetworkSpec> {
  const mode = rec.HostConfig.NetworkMode;
  if (mode === 'none' || mode === 'host') return { mode };
  const joined = joinedContainer(mode);
  if (joined !== null) return { mode: 'container', pid: (await pidOf(joined)) ?? 0 };
  return { mode: 'bridge', ports: publishedPorts(rec), hostsFile };
}

/** NetworkSettings after a start: Docker's fields, empty where the mode has no network of its own. */
export function networkSettings(a: NetworkAttachment | undefined): NetworkSettings {
  const ports: PortMap = {};
  for (const p of a?.ports ?? []) {
    (ports[portKey(p)] ??= []).push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
  }
  return {
    Bridge: a?.bridge ?? '',
    SandboxKey: a?.sandboxKey ?? '',
    Ports: ports,
    IPAddress: a?.ipAddress ?? '',
    IPPrefixLen: a?.prefixLen ?? 0,
    Gateway: a?.gateway ?? '',
    MacAddress: a?.macAddress ?? '',
  };
}

/** The PORTS column of `ps`: 0.0.0.0:4000->80/tcp, ... */
export function portsText(rec: ContainerRecord): string {
  const ports = rec.State.Running ? (rec.NetworkSettings?.Ports ?? {}) : {};
  return Object.entries(ports)
    .flatMap(([key, list]) => list.map((b) => `${b.HostIp}:${b.HostPort}->${key}`))
    .join(', ');
}
