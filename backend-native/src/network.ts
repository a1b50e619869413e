// Container networking for the native backend (docs/networking.md): a host bridge `strata0` on
// 10.127.0.0/16, a veth pair per container, published ports as nftables DNAT (chosen over a
// userspace proxy by measurement), and everything recorded under /run/strata so `rm` (or a later
// `rm -f` after a crash) can undo it exactly. Host-wide state lives in /run: it is per boot, as the
// kernel objects it describes.
//
// The runtime calls three phases around its namespace switch:
//   prepareNetwork  on the host, before the shim: address lease, port checks, the bridge, and the
//                   namespace the warm daemon made ahead (keepNetworksAhead), when there is one;
//   enterNetwork    on the main thread inside the shim's new namespace: eth0, address, route (lo is
//                   the shim's); for a namespace made ahead, configureTakenNetwork instead;
//   attachNetwork   back on the host: netns bind mount, bridge port, NAT rules, /etc/hosts line.
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { NetworkAttachment } from '../../shared/src/backend.js';
import { StrataError } from '../../shared/src/errors.js';
import type { ContainerSpec, PortMapping } from '../../shared/src/spec.js';
import { atomicWrite, readJsonIfExists, withLock } from '../../shared/src/store/fsutil.js';
import { randomBytes } from 'node:crypto';
import { CLONE, MNT_DETACH, MS, SyscallError, mount, setns, umount2, unshare } from './libc.js';
import { isRootless } from './rootless.js';
import { Netlink, withNetlink } from './netlink.js';
import { trace } from '../../shared/src/trace.js';

export const BRIDGE = 'strata0';
/** Not Docker's 172.17/16 nor its 172.18-31 pools, not podman's 10.88/16, not Kubernetes' usual
 * 10.42-10.44, 10.96 and 10.244 ranges. */
export const SUBNET = '10.127.0.0/16';
const PREFIX_LEN = 16;
const NET_BASE = [10, 127];
export const GATEWAY = '10.127.0.1';
const RUN_DIR = '/run/strata';
export const NETNS_DIR = path.join(RUN_DIR, 'netns');
const STATE_DIR = path.join(RUN_DIR, 'network');
const LEASE_DIR = path.join(STATE_DIR, 'leases');
const LOCK = path.join(RUN_DIR, 'network.lock');
// Renamed when what is set up once changes, so that a boot set up by an older strata gets the rest.
const HOST_MARKER = path.join(STATE_DIR, 'host-set-up-v2');
export const NFT_TABLE = 'strata';
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** What was set up for one container: exactly what teardown undoes. */
interface NetworkState {
  id: string;
  ipAddress: string;
  veth: string;
  ports: PortMapping[];
}

/** Handed from one phase of start to the next. */
export type NetworkPlan =
  /** nsFd: a namespace made ahead (lo up) for the shim to join instead of making one. */
  | { mode: 'none'; nsFd?: number }
  | { mode: 'host' }
  | { mode: 'container'; nsFd: number }
  | {
      mode: 'bridge';
      id: string;
      ipAddress: string;
      veth: string;
      ports: PortMapping[];
      hostsFile: string;
      hostname: string;
      /** The container's namespace: made ahead (takenAhead), or made by the shim and opened by enterNetwork. */
      nsFd?: number;
      /** The host end's name in a network made ahead, until configureTakenNetwork renames it to `veth`. */
      takenAhead?: string;
    };

function run(cmd: string, args: string[], input = ''): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.error) throw new StrataError(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new StrataError(`${cmd} ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

export const vethName = (id: string): string => `veth${id.slice(0, 11)}`; // IFNAMSIZ: 15 chars
export const sandboxKey = (id: string): string => path.join(NETNS_DIR, id);
const stateFile = (id: string) => path.join(STATE_DIR, `${id}.json`);

/** Docker's scheme: 02:42 followed by the IPv4 address, so the MAC is stable for an address. */
function macFor(ip: string): string {
  return ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** The NAT table. Declared on every start: `add` of existing objects is a no-op, and the chains are
 * flushed and refilled in the same atomic transaction, so concurrent starts cannot duplicate rules.
 * Keys include the protocol; `fib daddr type local` limits DNAT to the host's own addresses. */
function tableScript(): string[] {
  const t = `ip ${NFT_TABLE}`;
  const dnat = [
    'fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @published_ip',
    'fib daddr type local dnat ip to meta l4proto . th dport map @published',
  ];
  return [
    `add table ${t}`,
    `add map ${t} published { type inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `add map ${t} published_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat; }`,
    `add chain ${t} output { type nat hook output priority -100; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; }`,
    ...['prerouting', 'output', 'postrouting'].map((c) => `flush chain ${t} ${c}`),
    ...dnat.map((r) => `add rule ${t} prerouting ${r}`),
    ...dnat.map((r) => `add rule ${t} output ${r}`),
    // 127.0.0.1:HOST -> container: the container must answer the bridge's address, not its own lo.
    `add rule ${t} postrouting oifname "${BRIDGE}" ip saddr 127.0.0.0/8 masquerade`,
    `add rule ${t} postrouting ip saddr ${SUBNET} oifname != "${BRIDGE}" masquerade`,
  ];
}

function elementKey(p: PortMapping): { map: string; key: string } {
  const bound = p.hostIp !== '' && p.hostIp !== '0.0.0.0';
  return bound
    ? { map: 'published_ip', key: `${p.hostIp} . ${p.protocol} . ${p.hostPort}` }
    : { map: 'published', key: `${p.protocol} . ${p.hostPort}` };
}

/**
 * Once per boot (the marker lives in /run), as dockerd does at its start: the bridge, the NAT table
 * (outbound masquerade for the subnet, the published-port maps), and IPv4 forwarding on, so that
 * containers reach beyond the host. All of it stays, as docker0 and Docker's rules do.
 */
function ensureHost(): void {
  if (fs.existsSync(HOST_MARKER) && fs.existsSync(`/sys/class/net/${BRIDGE}`)) return;
  // After a boot /run/strata is gone: the lock file needs its directory.
  fs.mkdirSync(RUN_DIR, { recursive: true });
  withLock(LOCK, () => {
    if (!fs.existsSync(`/sys/class/net/${BRIDGE}`)) {
      withNetlink((nl) => {
        nl.addBridge(BRIDGE);
        nl.addAddress(BRIDGE, GATEWAY, PREFIX_LEN);
        nl.linkUp(BRIDGE);
      });
    }
    // Packets from 127.0.0.1, DNATed to a container, leave through the bridge: without this the
    // kernel drops them as martians (Docker sets the same on docker0).
    fs.writeFileSync(`/proc/sys/net/ipv4/conf/${BRIDGE}/route_localnet`, '1');
    if (fs.existsSync(HOST_MARKER)) return;
    run('nft', ['-f', '-'], tableScript().join('\n') + '\n');
    fs.writeFileSync(IP_FORWARD, '1');
    fs.mkdirSync(STATE_DIR, { recursive: true });
    fs.writeFileSync(HOST_MARKER, '');
  });
}

function otherStates(id: string): NetworkState[] {
  if (!fs.existsSync(STATE_DIR)) return [];
  return fs
    .readdirSync(STATE_DIR)
    .filter((f) => f.endsWith('.json') && f !== `${id}.json`)
    .map((f) => {
      try {
        return readJsonIfExists<NetworkState>(path.join(STATE_DIR, f));
      } catch {
        return null; // unreadable: not ours to judge, and never worth failing a start over
      }
    })
    .filter((s): s is NetworkState => s !== null);
}

/** The first free address of the subnet, leased by an exclusive file create. */
function leaseAddress(id: string): string {
  fs.mkdirSync(LEASE_DIR, { recursive: true });
  const taken = new Set(fs.readdirSync(LEASE_DIR));
  for (let n = 2; n < 65535; n++) {
    const ip = `${NET_BASE[0]}.${NET_BASE[1]}.${n >> 8}.${n & 255}`;
    if (taken.has(ip)) continue;
    try {
      fs.writeFileSync(path.join(LEASE_DIR, ip), id, { flag: 'wx' });
      return ip;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new StrataError(`no free address left in ${SUBNET}`);
}

const portText = (p: PortMapping) => `${p.hostIp || '0.0.0.0'}:${p.hostPort}`;

/** Whether something on the host holds the port; with hostPort 0, a free one the kernel picks. */
function probePort(p: PortMapping): Promise<number> {
  const host = p.hostIp || '0.0.0.0';
  return new Promise((resolve, reject) => {
    const fail = (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new StrataError(`Bind for ${portText(p)} failed: port is already allocated`)
          : new StrataError(`cannot publish ${portText(p)}/${p.protocol}: ${e.message}`),
      );
    if (p.protocol === 'udp') {
      const s = dgram.createSocket('udp4');
      s.once('error', fail);
      s.bind(p.hostPort, host, () => {
        const port = s.address().port;
        s.close(() => resolve(port));
      });
      return;
    }
    const s = net.createServer();
    s.once('error', fail);
    s.listen(p.hostPort, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Host side, before the namespaces: everything that can fail cleanly fails here. */
export async function prepareNetwork(spec: ContainerSpec): Promise<NetworkPlan> {
  const n = spec.network ?? { mode: 'none' };
  if (n.mode === 'host') return n;
  if (n.mode === 'none') {
    const made = takeNetworkAhead('none');
    return made ? { mode: 'none', nsFd: made.nsFd } : { mode: 'none' };
  }
  if (n.mode === 'container') {
    try {
      return { mode: 'container', nsFd: fs.openSync(`/proc/${n.pid}/ns/net`, 'r') };
    } catch {
      throw new StrataError(
        `cannot join the network namespace of PID ${n.pid}: the container is not running`,
      );
    }
  }
  if (isRootless()) {
    // A user namespace owns no host interface: it cannot add a veth to the host's bridge or NAT.
    throw new StrataError('bridge networking needs root (rootless mode: use --net none or --net host)');
  }
  // What a previous run of this container left (restart, crash). The teardown finds all of it
  // through the state file, written before the veth, netns mount and ports and removed after them:
  // without one there is nothing it could undo (a new container; its failed lookups cost ~2 ms).
  if (fs.existsSync(stateFile(spec.id))) teardownNetwork(spec.id);
  const ports: PortMapping[] = [];
  // Only a start that publishes reads the other containers' states (~0.2 ms).
  const others = n.ports.length > 0 ? otherStates(spec.id).flatMap((s) => s.ports) : [];
  for (const p of n.ports) {
    const clash = [...others, ...ports].find(
      (o) => o.protocol === p.protocol && o.hostPort === p.hostPort && (o.hostIp || '') === (p.hostIp || ''),
    );
    if (clash && p.hostPort !== 0)
      throw new StrataError(`Bind for ${portText(p)} failed: port is already allocated`);
    ports.push({ ...p, hostPort: await probePort(p) });
  }
  ensureHost();
  const ipAddress = leaseAddress(spec.id);
  const veth = vethName(spec.id);
  atomicWrite(
    stateFile(spec.id),
    JSON.stringify({ id: spec.id, ipAddress, veth, ports: [] } satisfies NetworkState),
  );
  // Last: from here on the caller holds the namespace made ahead (its fd).
  const made = takeNetworkAhead('bridge');
  return {
    mode: 'bridge',
    id: spec.id,
    ipAddress,
    veth,
    ports,
    hostsFile: n.hostsFile,
    hostname: spec.hostname,
    ...(made ? { nsFd: made.nsFd, takenAhead: made.hostEnd! } : {}),
  };
}

/** The network namespace flag for unshare: host and container modes keep (then switch) theirs. */
export function unshareNetFlag(plan: NetworkPlan): number {
  if (plan.mode === 'host' || joinedNetFd(plan) !== null) return 0;
  return CLONE.NEWNET;
}

/** The namespace the shim joins instead of making one: another container's, or one made ahead. */
export function joinedNetFd(plan: NetworkPlan): number | null {
  if (plan.mode === 'container') return plan.nsFd;
  if (plan.mode === 'none') return plan.nsFd ?? null;
  return plan.mode === 'bridge' && plan.takenAhead !== undefined ? plan.nsFd! : null;
}

/** On the main thread, inside the container's fresh namespaces (synchronous: see runtime.start). */
export function enterNetwork(plan: NetworkPlan, hostNetFd: number): void {
  if (plan.mode === 'host') return;
  if (plan.mode === 'container') {
    setns(plan.nsFd, CLONE.NEWNET, 'the joined container network namespace');
    return;
  }
  // lo is up already: the shim brings it up in every namespace it makes (--lo-up).
  if (plan.mode === 'none') return;
  plan.nsFd = fs.openSync('/proc/thread-self/ns/net', 'r');
  // The socket is opened on this thread, so it speaks to the new namespace; the host end of the
  // pair is created straight in the host's namespace through its fd.
  withNetlink((nl) => {
    nl.addVeth('eth0', macFor(plan.ipAddress), plan.veth, hostNetFd);
    nl.addAddress('eth0', plan.ipAddress, PREFIX_LEN);
    nl.linkUp('eth0');
    nl.addDefaultRoute(GATEWAY);
  });
  trace('network: eth0 and its host end created (netlink)');
}

/**
 * Back on the host: make the namespace reachable by path, plug it into the bridge (a network made
 * ahead is plugged in already), publish. The plan's nsFd stays open: the caller closes it.
 */
export function attachNetwork(plan: NetworkPlan): NetworkAttachment | undefined {
  if (plan.mode !== 'bridge') return undefined;
  const key = sandboxKey(plan.id);
  fs.mkdirSync(NETNS_DIR, { recursive: true });
  fs.writeFileSync(key, '');
  mount(`/proc/self/fd/${plan.nsFd!}`, key, null, MS.BIND, null);
  if (plan.takenAhead === undefined) {
    withNetlink((nl) => nl.linkUp(plan.veth, BRIDGE));
    trace('network: host end on the bridge (netlink)');
  }
  const elements = plan.ports.map((p) => {
    const { map, key: k } = elementKey(p);
    return `create element ip ${NFT_TABLE} ${map} { ${k} : ${plan.ipAddress} . ${p.containerPort} }`;
  });
  // An nft run costs 5-30 ms here: only a start that publishes ports pays for one (the table is
  // declared again in the same transaction, in case it was flushed since the boot's first start).
  try {
    if (elements.length > 0) run('nft', ['-f', '-'], [...tableScript(), ...elements].join('\n') + '\n');
  } catch (e) {
    // Another container published the same key between our check and this transaction.
    const msg = (e as Error).message;
    const taken = /File exists/.test(msg)
      ? plan.ports.find((p) => msg.includes(elementKey(p).key))
      : undefined;
    throw taken ? new StrataError(`Bind for ${portText(taken)} failed: port is already allocated`) : e;
  }
  // The ports are recorded once their elements are this container's: a teardown deletes what is
  // recorded, by key, and a key another container holds is not ours to delete. Without ports,
  // prepareNetwork's state is complete already.
  if (plan.ports.length > 0) {
    const state: NetworkState = {
      id: plan.id,
      ipAddress: plan.ipAddress,
      veth: plan.veth,
      ports: plan.ports,
    };
    atomicWrite(stateFile(plan.id), JSON.stringify(state));
  }
  writeHostsEntry(plan.hostsFile, plan.ipAddress, plan.hostname);
  trace('network: attached (NAT, /etc/hosts)');
  return {
    ipAddress: plan.ipAddress,
    prefixLen: PREFIX_LEN,
    gateway: GATEWAY,
    macAddress: macFor(plan.ipAddress),
    bridge: BRIDGE,
    sandboxKey: key,
    ports: plan.ports,
  };
}

/**
 * Network namespaces made ahead by the warm daemon, off a run's path (a namespace and its lo ~1 ms
 * here, a veth pair ~0.6 ms), one of each kind its runs have used: for `--net none`, lo up; for a
 * bridge, lo up and eth0, whose host end is a port of the bridge already, down until a run takes it
 * (a running link cannot be renamed). Each is held by its fd only: when the daemon exits or is
 * killed, the kernel frees the namespace, and the veth pair with it; nothing is left.
 */
type AheadKind = 'none' | 'bridge';
interface NetworkAhead {
  nsFd: number;
  /** A bridge's: the host end's name until a run renames it to the container's vethName. */
  hostEnd?: string;
}

const ahead = new Map<AheadKind, NetworkAhead>();
/** The kinds this process's runs have used: only those are made ahead. */
const aheadWanted = new Set<AheadKind>();

/** Makes a network of each wanted kind that is missing (the warm daemon, after its answer). */
export function keepNetworksAhead(): void {
  if (isRootless()) return; // no namespace of its own to make a veth from
  for (const kind of aheadWanted) {
    if (ahead.has(kind)) continue;
    if (kind === 'bridge' && !fs.existsSync(`/sys/class/net/${BRIDGE}`)) continue;
    try {
      ahead.set(kind, makeNetworkAhead(kind));
    } catch {
      /* the next run's shim makes its own, as without one */
    }
  }
}

function makeNetworkAhead(kind: AheadKind): NetworkAhead {
  const host = fs.openSync('/proc/thread-self/ns/net', 'r');
  let nsFd = -1;
  // 12 of IFNAMSIZ's 15: unique among the daemons of several stores on one host.
  const hostEnd = kind === 'bridge' ? `vsa${randomBytes(4).toString('hex')}` : undefined;
  try {
    // This thread only (CLONE_NEWNET is per thread), and back below: the daemon's other threads
    // and its sockets stay in the host's namespace.
    unshare(CLONE.NEWNET, 'a network made ahead');
    try {
      nsFd = fs.openSync('/proc/thread-self/ns/net', 'r');
      withNetlink((nl) => {
        nl.linkUp('lo');
        // eth0's MAC is set when a run takes it: Docker's is derived from the address.
        if (hostEnd) nl.addVeth('eth0', '02:42:00:00:00:00', hostEnd, host);
      });
    } finally {
      setns(host, CLONE.NEWNET, 'host net');
    }
    if (hostEnd) withNetlink((nl) => nl.setLink(hostEnd, { master: BRIDGE }));
    const made = { nsFd, ...(hostEnd ? { hostEnd } : {}) };
    nsFd = -1;
    return made;
  } finally {
    fs.closeSync(host);
    if (nsFd >= 0) fs.closeSync(nsFd); // half made: the namespace goes, and a pair with it
  }
}

/** The network of `kind` made ahead, now the caller's (its nsFd to close), or null. */
function takeNetworkAhead(kind: AheadKind): NetworkAhead | null {
  aheadWanted.add(kind);
  const made = ahead.get(kind) ?? null;
  ahead.delete(kind);
  return made;
}

/** The daemon's exit: the namespaces made ahead go, and their veth pairs with them. */
export function dropNetworksAhead(): void {
  for (const made of ahead.values()) fs.closeSync(made.nsFd);
  ahead.clear();
}

/**
 * A taken network becomes the container's: its host end gets the container's veth name (the name
 * teardown and `rm` look for), eth0 the address and Docker's MAC for it, and the default route.
 * Runs while the shim mounts the rootfs: nothing in it waits for the shim.
 */
export function configureTakenNetwork(plan: Extract<NetworkPlan, { mode: 'bridge' }>): void {
  const hostEnd = plan.takenAhead!;
  // One request: the kernel renames the link (down until now) before it brings it up.
  withNetlink((nl) => nl.setLink(hostEnd, { rename: plan.veth, up: true }));
  const host = fs.openSync('/proc/thread-self/ns/net', 'r');
  try {
    setns(plan.nsFd!, CLONE.NEWNET, 'the network made ahead');
    try {
      withNetlink((nl) => {
        nl.setLink('eth0', { mac: macFor(plan.ipAddress), up: true });
        nl.addAddress('eth0', plan.ipAddress, PREFIX_LEN);
        nl.addDefaultRoute(GATEWAY);
      });
    } finally {
      setns(host, CLONE.NEWNET, 'host net');
    }
  } finally {
    fs.closeSync(host);
  }
  trace('network: the network made ahead configured (netlink)');
}

/** Docker's line for the container's own name. Written in place: the file is bind-mounted. */
function writeHostsEntry(file: string, ip: string, hostname: string): void {
  const lines = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.endsWith(`\t${hostname}`));
  fs.writeFileSync(file, [...lines, `${ip}\t${hostname}`, ''].join('\n'));
}

/** Undo everything for container `id`; idempotent, and safe after a crash at any point. */
export function teardownNetwork(id: string): void {
  trace('network: teardown begins');
  const veth = vethName(id);
  // Deleting one end deletes the pair now; a dying namespace would only do it asynchronously.
  if (fs.existsSync(`/sys/class/net/${veth}`)) {
    try {
      withNetlink((nl) => nl.deleteLink(veth));
    } catch {
      /* gone meanwhile with its namespace */
    }
    trace('network: veth pair deleted (netlink)');
  }
  releaseNetwork(id);
}

/**
 * teardownNetwork() with the veth's deletion on a thread of the pool (the warm daemon, after its
 * answer): the kernel's wait for an RCU barrier in it (~18 ms) no longer holds up the next run.
 */
export async function teardownNetworkAsync(id: string): Promise<void> {
  trace('network: teardown begins');
  const veth = vethName(id);
  if (fs.existsSync(`/sys/class/net/${veth}`)) {
    const nl = new Netlink();
    try {
      await nl.deleteLinkAsync(veth);
    } catch {
      /* gone meanwhile with its namespace */
    } finally {
      nl.close();
    }
    trace('network: veth pair deleted (netlink, in the pool)');
  }
  releaseNetwork(id);
}

/** The rest of a teardown once the veth pair is gone: ports, netns mount, lease, state. */
function releaseNetwork(id: string): void {
  unpublishNetwork(id);
  const state = readJsonIfExists<NetworkState>(stateFile(id));
  if (state) {
    const lease = path.join(LEASE_DIR, state.ipAddress);
    if (fs.existsSync(lease) && fs.readFileSync(lease, 'utf8') === id) fs.rmSync(lease);
  }
  fs.rmSync(stateFile(id), { force: true });
  trace('network: torn down');
}

/**
 * The part of a teardown that a removal cannot leave for later (the warm daemon does the rest
 * after its answer, runtime.ts): the netns bind mount and its file (the host's mount table is as
 * it was once `run --rm` returns: tested), the published ports' NAT elements (so that the ports
 * can be published again at once). The veth, the lease and the state stay until teardownNetwork:
 * the address is not leased again while the old pair (the same MAC) may still be on the bridge.
 */
export function unpublishNetwork(id: string): void {
  const state = readJsonIfExists<NetworkState>(stateFile(id));
  const key = sandboxKey(id);
  try {
    umount2(key, MNT_DETACH);
  } catch (e) {
    if (!(e instanceof SyscallError) || !['EINVAL', 'ENOENT'].includes(e.code)) throw e;
  }
  try {
    fs.unlinkSync(key);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (!state || state.ports.length === 0) return;
  const deletes = state.ports.map((p) => {
    const { map, key: k } = elementKey(p);
    return `delete element ip ${NFT_TABLE} ${map} { ${k} }`;
  });
  // One transaction; if it fails (an element already gone after a crash), one by one.
  try {
    run('nft', ['-f', '-'], deletes.join('\n') + '\n');
  } catch {
    for (const d of deletes) {
      try {
        run('nft', ['-f', '-'], d + '\n');
      } catch {
        /* already deleted */
      }
    }
  }
  atomicWrite(stateFile(id), JSON.stringify({ ...state, ports: [] } satisfies NetworkState));
}
