// rtnetlink through koffi: the few link, address and route requests the bridge network makes, in
// the network namespace of the thread that opens the socket. Replaces `ip` processes (15-20 ms each
// on a quiet machine, 60-200 ms under load) by a few syscalls. Message layouts: linux/netlink.h,
// linux/rtnetlink.h, linux/if_link.h, linux/veth.h.
import { SyscallError, closeFd, ifIndex, recvBuf, sendBuf, sendBufAsync, socketFd } from './libc.js';

const AF_NETLINK = 16;
const AF_INET = 2;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;

const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const RTA_GATEWAY = 5;

const IFF_UP = 0x1;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RTN_UNICAST = 1;

const MESSAGE_NAMES: Record<number, string> = {
  [RTM_NEWLINK]: 'RTM_NEWLINK',
  [RTM_DELLINK]: 'RTM_DELLINK',
  [RTM_NEWADDR]: 'RTM_NEWADDR',
  [RTM_NEWROUTE]: 'RTM_NEWROUTE',
};

/** One netlink attribute: 4-byte header, payload, padded to 4 bytes. Nested ones hold attributes
 * (without NLA_F_NESTED, as iproute2 sends them: VETH_INFO_PEER is an ifinfomsg, not a nest). */
function attr(type: number, payload: Buffer | Buffer[]): Buffer {
  const body = Array.isArray(payload) ? Buffer.concat(payload) : payload;
  const len = 4 + body.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  body.copy(out, 4);
  return out;
}

const str = (s: string) => Buffer.from(`${s}\0`);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
};
const ipv4 = (ip: string) => Buffer.from(ip.split('.').map(Number));
const mac = (m: string) => Buffer.from(m.split(':').map((h) => parseInt(h, 16)));

/** struct ifinfomsg: family, type, index, flags, change. */
function ifinfomsg(index = 0, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

/** A netlink route socket of the calling thread's network namespace; requests are acked one by one. */
export class Netlink {
  private readonly fd: number;
  private seq = 0;
  private readonly reply = Buffer.alloc(8192);

  constructor() {
    this.fd = socketFd(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
  }

  close(): void {
    closeFd(this.fd);
  }

  /** Sends one request and waits for its ack; a negative error in it becomes a SyscallError. */
  private request(type: number, flags: number, body: Buffer[], what: string): void {
    const m = this.message(type, flags, body, what);
    sendBuf(this.fd, m.bytes, m.call);
    this.ack(m.seq, m.call);
  }

  /** request(), its send on a pool thread (see sendBufAsync). */
  private async requestAsync(type: number, flags: number, body: Buffer[], what: string): Promise<void> {
    const m = this.message(type, flags, body, what);
    await sendBufAsync(this.fd, m.bytes, m.call);
    this.ack(m.seq, m.call); // the kernel queued the ack before send returned
  }

  private message(type: number, flags: number, body: Buffer[], what: string) {
    const payload = Buffer.concat(body);
    const hdr = Buffer.alloc(16);
    const seq = ++this.seq;
    hdr.writeUInt32LE(16 + payload.length, 0);
    hdr.writeUInt16LE(type, 4);
    hdr.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK | flags, 6);
    hdr.writeUInt32LE(seq, 8);
    return {
      bytes: Buffer.concat([hdr, payload]),
      seq,
      call: `netlink ${MESSAGE_NAMES[type] ?? type} ${what}`,
    };
  }

  /** Reads until the ack of request `seq`. */
  private ack(seq: number, call: string): void {
    // Bounded: the kernel answers each request with exactly one ack (NLMSG_ERROR, error 0 on success).
    for (let tries = 0; tries < 16; tries++) {
      const n = recvBuf(this.fd, this.reply, call);
      for (let off = 0; off + 16 <= n;) {
        const len = this.reply.readUInt32LE(off);
        if (this.reply.readUInt16LE(off + 4) === NLMSG_ERROR && this.reply.readUInt32LE(off + 8) === seq) {
          const err = this.reply.readInt32LE(off + 16);
          if (err < 0) throw new SyscallError(call, -err);
          return;
        }
        off += (len + 3) & ~3 || n;
      }
    }
    throw new Error(`${call}: no acknowledgement from the kernel`);
  }

  /** A veth pair: `name` here (with `macAddress`), `peer` moved into the namespace of `peerNsFd`. */
  addVeth(name: string, macAddress: string, peer: string, peerNsFd: number): void {
    const peerInfo = attr(VETH_INFO_PEER, [
      ifinfomsg(),
      attr(IFLA_IFNAME, str(peer)),
      attr(IFLA_NET_NS_FD, u32(peerNsFd)),
    ]);
    this.request(
      RTM_NEWLINK,
      NLM_F_CREATE | NLM_F_EXCL,
      [
        ifinfomsg(),
        attr(IFLA_IFNAME, str(name)),
        attr(IFLA_ADDRESS, mac(macAddress)),
        attr(IFLA_LINKINFO, [attr(IFLA_INFO_KIND, str('veth')), attr(IFLA_INFO_DATA, [peerInfo])]),
      ],
      `veth ${name} peer ${peer}`,
    );
  }

  addBridge(name: string): void {
    this.request(
      RTM_NEWLINK,
      NLM_F_CREATE | NLM_F_EXCL,
      [ifinfomsg(), attr(IFLA_IFNAME, str(name)), attr(IFLA_LINKINFO, [attr(IFLA_INFO_KIND, str('bridge'))])],
      `bridge ${name}`,
    );
  }

  /** Link up, and with `master` a port of that bridge (ip link set NAME master M up). */
  linkUp(name: string, master?: string): void {
    this.setLink(name, { up: true, ...(master === undefined ? {} : { master }) });
  }

  /**
   * ip link set NAME [name NEW] [address MAC] [master M] [up], in one request. The kernel renames
   * first (the link must be down then), then sets the address, the master and the flags.
   */
  setLink(name: string, change: { rename?: string; mac?: string; master?: string; up?: boolean }): void {
    const what = [
      name,
      ...(change.rename ? [`name ${change.rename}`] : []),
      ...(change.mac ? [`address ${change.mac}`] : []),
      ...(change.master ? [`master ${change.master}`] : []),
      ...(change.up !== undefined ? [change.up ? 'up' : 'down'] : []),
    ].join(' ');
    const flags = change.up ? IFF_UP : 0;
    const changed = change.up !== undefined ? IFF_UP : 0;
    this.request(
      RTM_NEWLINK,
      0,
      [
        // A rename names the link by its index: IFLA_IFNAME then carries the new name.
        ifinfomsg(change.rename ? ifIndex(name) : 0, flags, changed),
        attr(IFLA_IFNAME, str(change.rename ?? name)),
        ...(change.mac ? [attr(IFLA_ADDRESS, mac(change.mac))] : []),
        ...(change.master ? [attr(IFLA_MASTER, u32(ifIndex(change.master)))] : []),
      ],
      what,
    );
  }

  deleteLink(name: string): void {
    this.request(RTM_DELLINK, 0, [ifinfomsg(), attr(IFLA_IFNAME, str(name))], name);
  }

  /** deleteLink() without blocking this thread while the kernel waits for the device to go. */
  deleteLinkAsync(name: string): Promise<void> {
    return this.requestAsync(RTM_DELLINK, 0, [ifinfomsg(), attr(IFLA_IFNAME, str(name))], name);
  }

  /** ip addr add IP/PREFIX dev NAME */
  addAddress(name: string, ip: string, prefixLen: number): void {
    const msg = Buffer.alloc(8); // struct ifaddrmsg: family, prefixlen, flags, scope, index
    msg.writeUInt8(AF_INET, 0);
    msg.writeUInt8(prefixLen, 1);
    msg.writeUInt32LE(ifIndex(name), 4);
    this.request(
      RTM_NEWADDR,
      NLM_F_CREATE | NLM_F_EXCL,
      [msg, attr(IFA_LOCAL, ipv4(ip)), attr(IFA_ADDRESS, ipv4(ip))],
      `${ip}/${prefixLen} dev ${name}`,
    );
  }

  /** ip route add default via GATEWAY (the kernel finds the link from the connected subnet). */
  addDefaultRoute(gateway: string): void {
    const msg = Buffer.alloc(12); // struct rtmsg
    msg.writeUInt8(AF_INET, 0);
    msg.writeUInt8(RT_TABLE_MAIN, 4);
    msg.writeUInt8(RTPROT_BOOT, 5);
    msg.writeUInt8(RT_SCOPE_UNIVERSE, 6);
    msg.writeUInt8(RTN_UNICAST, 7);
    this.request(
      RTM_NEWROUTE,
      NLM_F_CREATE | NLM_F_EXCL,
      [msg, attr(RTA_GATEWAY, ipv4(gateway))],
      `default via ${gateway}`,
    );
  }
}

/** Runs `fn` with a socket of the calling thread's network namespace, closed afterwards. */
export function withNetlink<T>(fn: (nl: Netlink) => T): T {
  const nl = new Netlink();
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}
