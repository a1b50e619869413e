// A model of the parts of the Linux kernel a container runtime uses: processes with namespaces,
// per-mount-namespace mount trees with shared-subtree propagation
// (Documentation/filesystems/sharedsubtree.rst), bind/rbind, tmpfs/proc/overlay mounts, chroot and
// pivot_root, umount (with MNT_DETACH), and /proc/PID/mountinfo rendered by the shared renderer.
// Pure TypeScript, no Node APIs: it runs in the browser.

import type { MountInfo } from '../mount/mountinfo.js';
import { renderMountinfo } from '../mount/mountinfo.js';
import type { MountFlag } from '../mount/options.js';
import { fail, isModelError } from './errors.js';
import type { CreateOptions, FileSystem, Stat } from './fs.js';
import { MemFs } from './fs.js';
import type { Layer } from './overlay.js';
import { OverlayFs } from './overlay.js';
import { ProcFs } from './procfs.js';
import { basename, childPath, components, dirname, isUnder, joinPath, relativeTo } from './path.js';

export type NsKind = 'mnt' | 'uts' | 'pid' | 'net' | 'ipc' | 'cgroup';
export const NS_KINDS: readonly NsKind[] = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts'];

export type Propagation = 'shared' | 'slave' | 'private' | 'unbindable';

export type { MountFlag } from '../mount/options.js';

/** Per-mount flags, rendered in mountinfo field 6 in this order after rw/ro. */
const MNT_OPTION_ORDER = ['nosuid', 'nodev', 'noexec', 'noatime', 'nodiratime', 'relatime'] as const;
type MntOption = (typeof MNT_OPTION_ORDER)[number];

/** Lowest-free ID allocator, like the kernel's IDA (mount IDs, peer group IDs, anonymous devices). */
class Ida {
  private readonly used = new Set<number>();
  /** Every number below this one is in use (so a scan for the lowest free one starts here). */
  private lowest: number;
  constructor(first: number) {
    this.lowest = first;
  }
  alloc(): number {
    let n = this.lowest;
    while (this.used.has(n)) n++;
    this.used.add(n);
    this.lowest = n + 1;
    return n;
  }
  free(n: number): void {
    if (this.used.delete(n) && n < this.lowest) this.lowest = n;
  }
}

export class SuperBlock {
  constructor(
    readonly fs: FileSystem,
    readonly major: number,
    readonly minor: number,
    /** Filesystem-specific options as mountinfo field 11 shows them after rw/ro. */
    readonly options: string[],
    public readOnly: boolean,
  ) {}
}

export class Mount {
  parent: Mount | null = null;
  /** Path inside the parent's filesystem where this mount sits. */
  mountpoint = '/';
  readonly children: Mount[] = [];
  ns: MountNamespace | null = null;
  readOnly = false;
  readonly options = new Set<MntOption>();
  /** Peer group ID when shared. */
  group: number | null = null;
  /** Peer group this mount receives propagation from (slave), or null. */
  master: number | null = null;
  unbindable = false;
  /** Order of entry into its namespace's list (Linux 6.1 lists mountinfo in this order), 0 before. */
  listSeq = 0;

  constructor(
    readonly id: number,
    /** Creation order; mountinfo lists a namespace's mounts in this order. */
    readonly seq: number,
    readonly sb: SuperBlock,
    /** Path inside the filesystem that is this mount's root (a subdirectory for bind mounts). */
    readonly root: string,
    /** Mount source ("device name") as shown in mountinfo. */
    readonly source: string,
  ) {}

  get propagation(): Propagation {
    if (this.group !== null) return 'shared';
    if (this.master !== null) return 'slave';
    return this.unbindable ? 'unbindable' : 'private';
  }
}

/** A position in the mount tree: a mount and a path inside its filesystem. */
export interface PathRef {
  mount: Mount;
  path: string;
}

export class Namespace {
  constructor(
    readonly kind: NsKind,
    /** The inode number /proc/PID/ns/KIND links to: "KIND:[inode]". */
    readonly inode: number,
  ) {}
}

export class UtsNamespace extends Namespace {
  constructor(
    inode: number,
    public hostname: string,
  ) {
    super('uts', inode);
  }
}

export class PidNamespace extends Namespace {
  nextPid = 1;
  constructor(
    inode: number,
    readonly parent: PidNamespace | null,
  ) {
    super('pid', inode);
  }
}

export class MountNamespace extends Namespace {
  root!: Mount;
  readonly mounts = new Set<Mount>();
  constructor(inode: number) {
    super('mnt', inode);
  }
}

export interface Namespaces {
  mnt: MountNamespace;
  uts: UtsNamespace;
  pid: PidNamespace;
  net: Namespace;
  ipc: Namespace;
  cgroup: Namespace;
}

export interface KernelOptions {
  /**
   * Boot like a real system (default): the initramfs "rootfs" is the namespace root (mount ID 1) and an
   * ext4 root filesystem is mounted over it; init's root is the ext4 mount. With `true`, init runs
   * directly on the initramfs rootfs, where pivot_root fails with EINVAL.
   */
  rootOnInitramfs?: boolean;
  /** Give every mount of the initial namespace shared propagation, as systemd does at boot. */
  sharedRoot?: boolean;
  hostname?: string;
  /** The kernel whose answers the model gives (default 6.18). */
  release?: KernelRelease;
}

/**
 * The kernels the model was checked against, where they answer differently (docs/scenarios.md,
 * "Linux 6.1 and 6.18"): 6.18 (the native host) lists mountinfo in creation order, does not copy the
 * unbindable flag in clone_mnt() and shows overlay's uuid=on / redirect_dir=on; 6.1 (Debian 12's,
 * the emu guest) lists mounts in the order they entered the namespace (propagated copies after the
 * mount, in reverse), keeps a copy unbindable and shows neither option.
 */
export type KernelRelease = '6.18' | '6.1';

export interface CloneOptions {
  namespaces?: NsKind[];
}

export interface LookupOptions {
  /** Follow a symlink in the last component (default true). */
  follow?: boolean;
  /** After the walk, cross into mounts stacked on the final position (umount's LOOKUP_MOUNTPOINT). */
  mountpoint?: boolean;
}

const MAX_SYMLINKS = 40;

export class Kernel {
  readonly processes = new Map<number, Process>();
  readonly init: Process;
  /** The initramfs rootfs superblock. */
  readonly rootfs: SuperBlock;
  private readonly mountIds = new Ida(1);
  private readonly groupIds = new Ida(1);
  private readonly anonDevs = new Ida(16);
  private readonly nsInodes = new Ida(0xf0000000);
  private mountSeq = 0;
  /** The process making the current system call (what /proc/self resolves to). */
  current: Process | null = null;
  /** The kernel the model answers as. */
  readonly version: KernelRelease;
  private listSeq = 0;

  constructor(opts: KernelOptions = {}) {
    this.version = opts.release ?? '6.18';
    const initPid = new PidNamespace(0xeffffffc, null);
    const initNs: Omit<Namespaces, 'mnt'> = {
      uts: new UtsNamespace(0xeffffffe, opts.hostname ?? 'localhost'),
      pid: initPid,
      ipc: new Namespace('ipc', 0xefffffff),
      cgroup: new Namespace('cgroup', 0xeffffffb),
      net: new Namespace('net', this.nsInodes.alloc()),
    };
    const mntNs = new MountNamespace(this.nsInodes.alloc());
    this.rootfs = this.newSuperBlock(new MemFs('rootfs', 0o755), [], false);
    const rootMount = this.newMount(this.rootfs, '/', 'none');
    rootMount.options.add('relatime');
    mntNs.root = rootMount;
    this.addToNs(rootMount, mntNs);
    let root: PathRef = { mount: rootMount, path: '/' };
    if (!opts.rootOnInitramfs) {
      // The real root filesystem, mounted over the rootfs by the initramfs (switch_root).
      const disk = new MemFs('ext4', 0o755);
      for (const d of [
        'bin',
        'dev',
        'etc',
        'home',
        'lib',
        'mnt',
        'proc',
        'root',
        'sys',
        'tmp',
        'usr',
        'var',
      ]) {
        disk.mkdir('/' + d, { mode: d === 'tmp' ? 0o1777 : d === 'root' ? 0o700 : 0o755 });
      }
      const sb = new SuperBlock(disk, 254, 0, ['discard'], false);
      const m = this.newMount(sb, '/', '/dev/vda');
      m.options.add('relatime');
      this.attach(m, root);
      root = { mount: m, path: '/' };
    }
    const ns: Namespaces = { ...initNs, mnt: mntNs };
    this.init = new Process(this, null, ns, initPid, root, root);
    // systemd's `mount --make-rshared /`: everything from init's root down (not the hidden rootfs).
    if (opts.sharedRoot) for (const m of subtree(root.mount)) this.setShared(m);
  }

  // ---- allocation ----------------------------------------------------------------------------------

  newSuperBlock(fs: FileSystem, options: string[], readOnly: boolean): SuperBlock {
    return new SuperBlock(fs, 0, this.anonDevs.alloc(), options, readOnly);
  }

  newMount(sb: SuperBlock, root: string, source: string): Mount {
    return new Mount(this.mountIds.alloc(), ++this.mountSeq, sb, root, source);
  }

  private readonly nsSuperBlocks = new Map<Namespace, Map<string, SuperBlock>>();

  /** The per-namespace superblock of sysfs (net) or mqueue (ipc), made on first use. */
  sharedSuperBlock(fsType: string, ns: Namespace): SuperBlock {
    let byType = this.nsSuperBlocks.get(ns);
    if (!byType) this.nsSuperBlocks.set(ns, (byType = new Map()));
    let sb = byType.get(fsType);
    if (!sb) byType.set(fsType, (sb = this.newSuperBlock(new MemFs(fsType, 0o755), [], false)));
    return sb;
  }

  newNsInode(): number {
    return this.nsInodes.alloc();
  }

  private newGroup(): number {
    return this.groupIds.alloc();
  }

  // ---- mount tree primitives -----------------------------------------------------------------------

  private addToNs(m: Mount, ns: MountNamespace): void {
    m.ns = ns;
    ns.mounts.add(m);
    // A moved mount keeps its place in the list (6.1's attach_mnt does not touch mnt_list).
    if (m.listSeq === 0) m.listSeq = ++this.listSeq;
  }

  /** A tree enters a namespace; 6.1's commit_tree() appends it in copy_tree()'s (creation) order. */
  private enterNs(top: Mount, ns: MountNamespace): void {
    const all = subtree(top);
    if (this.version === '6.1') all.sort((a, b) => a.seq - b.seq);
    for (const x of all) this.addToNs(x, ns);
  }

  /** mountinfo's order: creation (6.18: by unique mount ID) or namespace list order (6.1). */
  private listOrder(a: Mount, b: Mount): number {
    return this.version === '6.1' ? a.listSeq - b.listSeq : a.seq - b.seq;
  }

  /** Attach a detached mount tree at `at`, putting the whole tree into at.mount's namespace. */
  attach(m: Mount, at: PathRef): void {
    m.parent = at.mount;
    m.mountpoint = at.path;
    at.mount.children.push(m);
    const ns = at.mount.ns;
    if (ns) this.enterNs(m, ns);
  }

  /** Take a mount (and its subtree, which stays attached to it) out of its parent and namespace. */
  private detach(m: Mount): void {
    const p = m.parent;
    if (p) p.children.splice(p.children.indexOf(m), 1);
    m.parent = null;
    for (const x of subtree(m)) {
      x.ns?.mounts.delete(x);
      x.ns = null;
    }
  }

  /** Free a mount that left the tree for good: its ID and its peer group membership. */
  private release(m: Mount): void {
    this.leaveGroup(m);
    m.master = null;
    this.mountIds.free(m.id);
  }

  /** The mount stacked on top of `at`, if any (the last one mounted there). */
  mountedOn(at: PathRef): Mount | null {
    let top: Mount | null = null;
    for (const c of at.mount.children) if (c.mountpoint === at.path) top = c;
    return top;
  }

  /** Cross into mounts stacked on `ref`, down to the topmost. */
  followDown(ref: PathRef): PathRef {
    let cur = ref;
    for (let m = this.mountedOn(cur); m; m = this.mountedOn(cur)) cur = { mount: m, path: m.root };
    return cur;
  }

  /**
   * Peer groups as the kernel keeps them: a circular list per group (mnt_share) where a new peer is
   * inserted right after the mount it was copied from. Propagation visits peers in this order.
   */
  private readonly groups = new Map<number, Mount[]>();

  /** The live mounts (in a namespace some process uses) of peer group `g`, in share-list order. */
  peers(g: number): Mount[] {
    const live = this.namespaces();
    return (this.groups.get(g) ?? []).filter((m) => m.ns !== null && live.has(m.ns));
  }

  /** Put `m` in group `g`, right after `after` when given (list_add on after's mnt_share). */
  private joinGroup(m: Mount, g: number, after: Mount | null): void {
    let list = this.groups.get(g);
    if (!list) this.groups.set(g, (list = []));
    const i = after ? list.indexOf(after) : -1;
    if (i < 0) list.push(m);
    else list.splice(i + 1, 0, m);
    m.group = g;
  }

  /** Peers of `m` in the order the kernel's next_peer() walks them from m (m itself excluded). */
  private nextPeers(m: Mount): Mount[] {
    if (m.group === null) return [];
    const list = this.peers(m.group);
    const i = list.indexOf(m);
    return i < 0 ? list : [...list.slice(i + 1), ...list.slice(0, i)];
  }

  /** Mounts that are slaves of peer group `g`. */
  slavesOf(g: number): Mount[] {
    const out: Mount[] = [];
    for (const ns of this.namespaces()) for (const m of ns.mounts) if (m.master === g) out.push(m);
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Every mount namespace some process still uses. */
  namespaces(): Set<MountNamespace> {
    const out = new Set<MountNamespace>();
    for (const p of this.processes.values()) out.add(p.ns.mnt);
    for (const ns of this.extraNamespaces) out.add(ns);
    return out;
  }

  /** Mount namespaces kept alive without a process (bind-mounted nsfs files in the real kernel). */
  readonly extraNamespaces = new Set<MountNamespace>();

  /** Tear a mount namespace down once nothing uses it: its mounts leave their peer groups. */
  dropUnusedNamespace(ns: MountNamespace): void {
    if (this.namespaces().has(ns)) return;
    const all = subtree(ns.root);
    for (const m of all) {
      m.ns?.mounts.delete(m);
      m.ns = null;
    }
    for (const m of all) this.release(m);
  }

  private setShared(m: Mount): void {
    if (m.group === null) this.joinGroup(m, this.newGroup(), null);
    m.unbindable = false;
  }

  /** Leave the peer group; when the group empties, its slaves move to its master (do_make_slave). */
  private leaveGroup(m: Mount): void {
    const g = m.group;
    if (g === null) return;
    m.group = null;
    const list = this.groups.get(g) ?? [];
    const i = list.indexOf(m);
    if (i >= 0) list.splice(i, 1);
    if (this.peers(g).length > 0) return;
    for (const s of this.slavesOf(g)) s.master = m.master;
    this.groups.delete(g);
    this.groupIds.free(g);
  }

  /** change_mnt_propagation(): make one mount shared, slave, private or unbindable. */
  changePropagation(m: Mount, type: Propagation): void {
    if (type === 'shared') {
      this.setShared(m);
      return;
    }
    const g = m.group;
    const hasPeers = g !== null && this.peers(g).some((x) => x !== m);
    const newMaster = hasPeers ? g : m.master;
    this.leaveGroup(m);
    m.master = type === 'slave' ? newMaster : null;
    // make-slave leaves the flag (an unbindable mount has no master, so it stays unbindable).
    if (type !== 'slave') m.unbindable = type === 'unbindable';
  }

  /** clone_mnt(): a copy of one mount with a new ID, propagation as the CL_* flags say. */
  private cloneMount(old: Mount, root: string, flags: CloneMountFlags): Mount {
    const m = this.newMount(old.sb, root, old.source);
    m.readOnly = old.readOnly;
    for (const o of old.options) m.options.add(o);
    // clone_mnt() does not copy mnt_t_flags on Linux 6.18: a copy is never unbindable (a namespace
    // copy of an unbindable mount is private; binds and propagation skip unbindable mounts anyway).
    // 6.1 copies mnt_flags, MNT_UNBINDABLE with them.
    if (this.version === '6.1') m.unbindable = old.unbindable;
    if (flags.slave) {
      m.master = old.group;
    } else if (!flags.private) {
      if (old.group !== null) this.joinGroup(m, old.group, old);
      m.master = old.master;
    }
    if (flags.makeShared) this.setShared(m);
    return m;
  }

  /**
   * copy_tree(): copy `src` (with its root moved to `root`) and the mounts below it that are visible under
   * `root`. Unbindable mounts are skipped unless `copyUnbindable`. Returns the detached copy and a map
   * from original to copy.
   */
  copyTree(src: Mount, root: string, flags: CloneMountFlags): { copy: Mount; map: Map<Mount, Mount> } {
    const map = new Map<Mount, Mount>();
    const copy = this.cloneMount(src, root, flags);
    map.set(src, copy);
    const walk = (orig: Mount, dup: Mount, under: string): void => {
      for (const c of orig.children) {
        if (!isUnder(c.mountpoint, under)) continue;
        if (c.unbindable && !flags.copyUnbindable) continue;
        const cc = this.cloneMount(c, c.root, flags);
        map.set(c, cc);
        cc.parent = dup;
        cc.mountpoint = c.mountpoint;
        dup.children.push(cc);
        walk(c, cc, c.root);
      }
    };
    walk(src, copy, root);
    return { copy, map };
  }

  /**
   * attach_recursive_mnt(): mount the detached tree `src` at `dest`. When dest's mount is shared the
   * tree becomes shared too and copies go to every peer and slave of dest's mount (propagate_mnt).
   */
  attachRecursive(src: Mount, dest: PathRef): void {
    if (dest.mount.group !== null) for (const m of subtree(src)) if (m.group === null) this.setShared(m);
    const copies = dest.mount.group !== null ? this.propagateMount(dest, src) : [];
    this.attach(src, dest);
    // 6.1's propagate_one() puts each copy at the head of the list that attach_recursive_mnt() commits.
    if (this.version === '6.1') copies.reverse();
    for (const [copy, at] of copies) {
      // A copy landing where something is already mounted goes underneath it ("tucked"): the mount
      // that was there moves onto the copy's root.
      const existing = this.mountedOn(at);
      this.attach(copy, at);
      if (existing) this.moveSubtree(existing, { mount: copy, path: copy.root });
    }
  }

  /**
   * propagate_mnt(): copies of `src` for every mount that receives propagation from dest's mount: its
   * peers (in next_peer() order, each copy made from the previous one so they line up as peers), then
   * each slave group (one slave copy, then peers of it), recursively.
   */
  private propagateMount(dest: PathRef, src: Mount): Array<[Mount, PathRef]> {
    const out: Array<[Mount, PathRef]> = [];
    const doneGroups = new Set<number>();
    const reachable = (m: Mount): boolean => isUnder(dest.path, m.root) && m.ns !== null;
    // Copies for the peers of `first` (which already has `from`), then for their slaves.
    const visitGroup = (first: Mount, from: Mount): void => {
      const g = first.group as number;
      if (doneGroups.has(g)) return;
      doneGroups.add(g);
      let last = from;
      for (const m of this.nextPeers(first)) {
        if (!reachable(m)) continue;
        const { copy } = this.copyTree(last, last.root, { makeShared: true });
        out.push([copy, { mount: m, path: dest.path }]);
        last = copy;
      }
      visitSlaves(g, from);
    };
    const visitSlaves = (g: number, from: Mount): void => {
      for (const s of this.slavesOf(g)) {
        if (s.group === null) {
          if (!reachable(s)) continue;
          const { copy } = this.copyTree(from, from.root, { slave: true });
          out.push([copy, { mount: s, path: dest.path }]);
          continue;
        }
        // A shared slave: its whole peer group receives one slave copy, shared among the peers.
        if (doneGroups.has(s.group)) continue;
        const first = this.peers(s.group).find(reachable) ?? null;
        if (!first) {
          // Nothing to mount on in this group, but its slaves may still see the mount point.
          doneGroups.add(s.group);
          visitSlaves(s.group, from);
          continue;
        }
        const { copy } = this.copyTree(from, from.root, { slave: true, makeShared: true });
        out.push([copy, { mount: first, path: dest.path }]);
        visitGroup(first, copy);
      }
    };
    visitGroup(dest.mount, src);
    return out;
  }

  /** The mounts that receive propagation from peer group `g`: its peers, slaves, their peers... */
  private propagationTargets(g: number): Set<Mount> {
    const targets = new Set<Mount>();
    const seen = new Set<number>();
    const visit = (group: number): void => {
      if (seen.has(group)) return;
      seen.add(group);
      for (const p of this.peers(group)) targets.add(p);
      for (const s of this.slavesOf(group)) {
        targets.add(s);
        if (s.group !== null) visit(s.group);
      }
    };
    visit(g);
    return targets;
  }

  /**
   * umount_tree(): take `m` and everything below it out of the tree. With `propagate`, the copies of
   * those mounts on the peers and slaves of their parents go too (propagate_umount()), unless a copy has
   * mounts of its own that stay; for a non-lazy umount such a copy makes the whole umount EBUSY.
   */
  umountTree(m: Mount, propagate: boolean, lazy = true): void {
    const victims = new Set(subtree(m));
    if (propagate) {
      const candidates = new Set<Mount>();
      const queue = [...victims];
      while (queue.length > 0) {
        const v = queue.pop() as Mount;
        const parent = v.parent;
        if (!parent || parent.group === null) continue;
        for (const t of this.propagationTargets(parent.group)) {
          if (t === parent) continue;
          const c = this.mountedOn({ mount: t, path: v.mountpoint });
          if (!c || victims.has(c) || candidates.has(c) || c.sb !== v.sb || c.root !== v.root) continue;
          candidates.add(c);
          queue.push(c);
        }
      }
      // A copy goes only if nothing stays mounted below it, except one mount tucked on its root, which
      // moves back down to where the copy was.
      const tucked = new Map<Mount, Mount>();
      let changed = true;
      while (changed) {
        changed = false;
        tucked.clear();
        for (const c of candidates) {
          const stays = c.children.filter((x) => !victims.has(x) && !candidates.has(x));
          const [only] = stays;
          if (stays.length === 0) continue;
          if (stays.length === 1 && only && only.mountpoint === c.root) {
            tucked.set(c, only);
            continue;
          }
          if (!lazy) fail('EBUSY', 'a propagated copy has mounts below it');
          candidates.delete(c);
          changed = true;
        }
      }
      for (const [c, child] of tucked) {
        if (c.parent) this.moveSubtree(child, { mount: c.parent, path: c.mountpoint });
      }
      for (const c of candidates) victims.add(c);
    }
    const tops = [...victims].filter((v) => !v.parent || !victims.has(v.parent));
    for (const t of tops) this.detach(t);
    for (const v of victims) this.release(v);
  }

  /** do_loopback(): the detached copy a bind mount attaches (with the mounts below for MS_REC). */
  bindTree(old: PathRef, recursive: boolean): Mount {
    if (recursive) return this.copyTree(old.mount, old.path, {}).copy;
    return this.cloneMount(old.mount, old.path, {});
  }

  /** Move a mount (with its subtree) to `at` inside the same namespace (MS_MOVE, pivot_root). */
  moveSubtree(m: Mount, at: PathRef): void {
    const p = m.parent;
    if (p) p.children.splice(p.children.indexOf(m), 1);
    m.parent = at.mount;
    m.mountpoint = at.path;
    at.mount.children.push(m);
  }

  /** MS_MOVE: detach `m` (keeping its subtree) and attach it at `at`, propagating when at is shared. */
  moveAndPropagate(m: Mount, at: PathRef): void {
    this.detach(m);
    this.attachRecursive(m, at);
  }

  /** Copy a whole mount namespace (unshare/clone with CLONE_NEWNS): same propagation, new IDs. */
  copyMountNamespace(old: MountNamespace): { ns: MountNamespace; map: Map<Mount, Mount> } {
    const ns = new MountNamespace(this.newNsInode());
    const { copy, map } = this.copyTree(old.root, old.root.root, { copyUnbindable: true });
    ns.root = copy;
    this.enterNs(copy, ns);
    return { ns, map };
  }

  // ---- path walking ----------------------------------------------------------------------------------

  /** Resolve `path` for process `p` to a position in the mount tree (namei). */
  lookup(p: Process, path: string, opts: LookupOptions = {}): PathRef {
    this.current = p;
    const follow = opts.follow ?? true;
    if (path === '') fail('ENOENT', 'empty path');
    let cur: PathRef = path.startsWith('/') ? p.root : p.cwd;
    const todo = components(path);
    let links = 0;
    // Whether cur is a directory, once known (each component's stat is taken once: for overlays a stat
    // is a lookup through every layer).
    let curIsDir: boolean | null = null;
    while (todo.length > 0) {
      const name = todo.shift() as string;
      const last = todo.length === 0;
      curIsDir ??= cur.mount.sb.fs.lstat(cur.path).kind === 'dir';
      if (!curIsDir) fail('ENOTDIR', `${path}: not a directory`);
      if (name === '..') {
        cur = this.parentOf(p, cur);
        curIsDir = null;
        continue;
      }
      let next: PathRef = { mount: cur.mount, path: childPath(cur.path, name) };
      const nst = next.mount.sb.fs.lstat(next.path);
      next = this.followDown(next);
      const crossed = next.mount !== cur.mount;
      if (nst.kind === 'symlink' && !crossed && (!last || follow)) {
        if (++links > MAX_SYMLINKS) fail('ELOOP', `${path}: too many levels of symbolic links`);
        const target = cur.mount.sb.fs.readlink(next.path);
        todo.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
        if (target.startsWith('/')) {
          cur = p.root;
          curIsDir = null;
        }
        continue;
      }
      const kind = crossed ? next.mount.sb.fs.lstat(next.path).kind : nst.kind;
      if (!last && kind !== 'dir') fail('ENOTDIR', `${path}: not a directory`);
      cur = next;
      curIsDir = kind === 'dir';
    }
    return opts.mountpoint ? this.followDown(cur) : cur;
  }

  /** "..": up one directory, crossing to the parent mount at a mount root, never above p's root. */
  private parentOf(p: Process, ref: PathRef): PathRef {
    let cur = ref;
    for (;;) {
      if (cur.mount === p.root.mount && cur.path === p.root.path) return cur;
      if (cur.path !== cur.mount.root || !cur.mount.parent) break;
      cur = { mount: cur.mount.parent, path: cur.mount.mountpoint };
    }
    if (cur.path === cur.mount.root) return cur;
    return this.followDown({ mount: cur.mount, path: dirname(cur.path) });
  }

  /** Path of `ref` as seen from `root`, or null when it is not reachable from there. */
  pathFrom(ref: PathRef, root: PathRef): string | null {
    const parts: string[] = [];
    let m = ref.mount;
    let path = ref.path;
    for (;;) {
      if (m === root.mount && isUnder(path, root.path)) {
        return joinPath([...components(relativeTo(path, root.path)), ...parts]);
      }
      if (!m.parent || !isUnder(path, m.root)) return null;
      parts.unshift(...components(relativeTo(path, m.root)));
      path = m.mountpoint;
      m = m.parent;
    }
  }

  /** is_path_reachable(): whether `ref` lies under `root`, walking up through parent mounts. */
  reachable(ref: PathRef, root: PathRef): boolean {
    let m = ref.mount;
    let path = ref.path;
    while (m !== root.mount && m.parent) {
      path = m.mountpoint;
      m = m.parent;
    }
    return m === root.mount && isUnder(path, root.path);
  }

  /** get_dominating_id(): the nearest master group with a member visible from `root` in m's namespace. */
  private dominatingGroup(m: Mount, root: PathRef): number | null {
    const seen = new Set<number>();
    for (let g = m.master; g !== null && !seen.has(g);) {
      seen.add(g);
      const members = this.peers(g);
      if (members.some((x) => x.ns === m.ns && this.reachable({ mount: x, path: x.root }, root))) return g;
      g = members[0]?.master ?? null;
    }
    return null;
  }

  /** The mountinfo entries process `p` sees (mounts outside its root are hidden). */
  mountinfo(p: Process): MountInfo[] {
    const out: MountInfo[] = [];
    const mounts = [...p.ns.mnt.mounts].sort((a, b) => this.listOrder(a, b));
    for (const m of mounts) {
      const mp = this.pathFrom({ mount: m, path: m.root }, p.root);
      if (mp === null) continue;
      const dom = m.master !== null ? this.dominatingGroup(m, p.root) : null;
      const mntOpts = MNT_OPTION_ORDER.filter((o) => m.options.has(o));
      out.push({
        mountId: m.id,
        parentId: m.parent ? m.parent.id : m.id,
        major: m.sb.major,
        minor: m.sb.minor,
        root: m.root,
        mountPoint: mp,
        mountOptions: [m.readOnly ? 'ro' : 'rw', ...mntOpts],
        shared: m.group,
        master: m.master,
        propagateFrom: dom !== null && dom !== m.master ? dom : null,
        unbindable: m.unbindable,
        otherFields: [],
        fsType: m.sb.fs.fsType,
        source: m.source,
        superOptions: [m.sb.readOnly ? 'ro' : 'rw', ...m.sb.options],
      });
    }
    return out;
  }

  /** /proc/PID/mountinfo text for process `p`. */
  renderMountinfo(p: Process): string {
    return renderMountinfo(this.mountinfo(p));
  }
}

export interface CloneMountFlags {
  /** CL_SLAVE: the copy is a slave of the original's peer group. */
  slave?: boolean;
  /** CL_PRIVATE: the copy has no propagation. */
  private?: boolean;
  /** CL_MAKE_SHARED: the copy is shared (a peer of the original, or a new group). */
  makeShared?: boolean;
  /** CL_COPY_UNBINDABLE: copy unbindable mounts too (namespace copies). */
  copyUnbindable?: boolean;
}

/** `m` and every mount below it, parents before children. */
export function subtree(m: Mount): Mount[] {
  const out: Mount[] = [m];
  for (let i = 0; i < out.length; i++) out.push(...(out[i] as Mount).children);
  return out;
}

function parseMountData(data: string): Array<[string, string | null]> {
  if (data === '') return [];
  return data.split(',').map((o) => {
    const i = o.indexOf('=');
    return i < 0 ? [o, null] : [o.slice(0, i), o.slice(i + 1)];
  });
}

const SB_FLAGS: ReadonlyArray<readonly [MountFlag, string]> = [
  ['MS_SYNCHRONOUS', 'sync'],
  ['MS_DIRSYNC', 'dirsync'],
  ['MS_LAZYTIME', 'lazytime'],
];

/** devpts options as devpts_show_options() prints them: uid, gid, mode, ptmxmode (always), max. */
function devptsOptions(data: string): string[] {
  const opts = new Map(parseMountData(data));
  const out: string[] = [];
  for (const k of ['uid', 'gid']) {
    const v = opts.get(k);
    if (v) out.push(`${k}=${v}`);
  }
  const oct = (v: string | null | undefined, dflt: number) =>
    (v ? parseInt(v, 8) : dflt).toString(8).padStart(3, '0');
  out.push(`mode=${oct(opts.get('mode'), 0o600)}`, `ptmxmode=${oct(opts.get('ptmxmode'), 0)}`);
  const max = opts.get('max');
  if (max) out.push(`max=${max}`);
  return out;
}

/** tmpfs options in the order shmem_show_options() prints them: size, nr_inodes, mode, uid, gid. */
function tmpfsOptions(data: string): { options: string[]; mode: number } {
  const opts = new Map(parseMountData(data));
  const out: string[] = [];
  const size = opts.get('size');
  if (size) {
    const n = /^([0-9]+)([kmgKMG]?)$/.exec(size);
    if (!n) fail('EINVAL', `tmpfs: bad size ${size}`);
    const kib: Record<string, number> = { '': 1 / 1024, k: 1, m: 1024, g: 1024 * 1024 };
    out.push(`size=${Math.ceil(Number(n[1]) * (kib[(n[2] ?? '').toLowerCase()] ?? 1))}k`);
  }
  const inodes = opts.get('nr_inodes');
  if (inodes) out.push(`nr_inodes=${inodes}`);
  let mode = 0o1777;
  const m = opts.get('mode');
  if (m) {
    mode = parseInt(m, 8);
    if (mode !== 0o1777) out.push(`mode=${mode.toString(8).padStart(3, '0')}`);
  }
  for (const k of ['uid', 'gid']) {
    const v = opts.get(k);
    if (v && v !== '0') out.push(`${k}=${v}`);
  }
  return { options: out, mode };
}

export interface MountOptions {
  flags?: MountFlag[];
  /** Filesystem data ("mode=755,size=64k", "lowerdir=...,upperdir=...,workdir=..."). */
  data?: string;
}

/** A process: its namespaces, root and working directory, and the system calls it can make. */
export class Process {
  readonly pid: number;
  /** PID in each PID namespace it is visible in (its own and the ancestors'). */
  readonly pids = new Map<PidNamespace, number>();
  ns: Namespaces;
  /** PID namespace new children go into (/proc/PID/ns/pid_for_children). */
  pidForChildren: PidNamespace;
  root: PathRef;
  cwd: PathRef;
  alive = true;

  constructor(
    readonly kernel: Kernel,
    readonly parent: Process | null,
    ns: Namespaces,
    pidForChildren: PidNamespace,
    root: PathRef,
    cwd: PathRef,
  ) {
    this.ns = ns;
    this.pidForChildren = pidForChildren;
    this.root = root;
    this.cwd = cwd;
    for (let p: PidNamespace | null = ns.pid; p; p = p.parent) this.pids.set(p, p.nextPid++);
    let top = ns.pid;
    while (top.parent) top = top.parent;
    this.pid = this.pids.get(top) as number;
    kernel.processes.set(this.pid, this);
  }

  /** PID as seen from PID namespace `ns` (null when not visible there). */
  pidIn(ns: PidNamespace): number | null {
    return this.pids.get(ns) ?? null;
  }

  /** What readlink("/proc/PID/ns/KIND") returns: "mnt:[4026531841]". */
  nsLink(kind: NsKind | 'pid_for_children'): string {
    if (kind === 'pid_for_children') return `pid:[${this.pidForChildren.inode}]`;
    return `${kind}:[${this.ns[kind].inode}]`;
  }

  get hostname(): string {
    return this.ns.uts.hostname;
  }

  sethostname(name: string): void {
    this.ns.uts.hostname = name;
  }

  // ---- namespaces ------------------------------------------------------------------------------------

  private newNamespaces(kinds: readonly NsKind[], base: Namespaces): Namespaces {
    const k = this.kernel;
    const ns: Namespaces = { ...base };
    for (const kind of kinds) {
      if (kind === 'uts') ns.uts = new UtsNamespace(k.newNsInode(), base.uts.hostname);
      else if (kind === 'net' || kind === 'ipc' || kind === 'cgroup')
        ns[kind] = new Namespace(kind, k.newNsInode());
    }
    return ns;
  }

  /** clone(2)/fork: a child process, in new namespaces for the given kinds. */
  clone(opts: CloneOptions = {}): Process {
    const kinds = opts.namespaces ?? [];
    const k = this.kernel;
    const ns = this.newNamespaces(kinds, this.ns);
    let root = this.root;
    let cwd = this.cwd;
    if (kinds.includes('mnt')) {
      const copy = k.copyMountNamespace(this.ns.mnt);
      ns.mnt = copy.ns;
      root = remap(root, copy.map);
      cwd = remap(cwd, copy.map);
    }
    const pidNs = kinds.includes('pid')
      ? new PidNamespace(k.newNsInode(), this.pidForChildren)
      : this.pidForChildren;
    ns.pid = pidNs;
    return new Process(k, this, ns, pidNs, root, cwd);
  }

  /** unshare(2). A new PID namespace applies to children only (pid_for_children). */
  unshare(kinds: readonly NsKind[]): void {
    const k = this.kernel;
    const ns = this.newNamespaces(kinds, this.ns);
    if (kinds.includes('mnt')) {
      const copy = k.copyMountNamespace(this.ns.mnt);
      ns.mnt = copy.ns;
      this.root = remap(this.root, copy.map);
      this.cwd = remap(this.cwd, copy.map);
    }
    if (kinds.includes('pid')) this.pidForChildren = new PidNamespace(k.newNsInode(), this.ns.pid);
    this.ns = ns;
  }

  /** setns(2): join `target`'s namespace of the given kind. Joining a mount namespace resets root and cwd. */
  setns(target: Process, kind: NsKind): void {
    if (kind === 'pid') {
      this.pidForChildren = target.ns.pid;
      return;
    }
    if (kind === 'mnt') {
      const root = this.kernel.followDown({ mount: target.ns.mnt.root, path: target.ns.mnt.root.root });
      this.ns = { ...this.ns, mnt: target.ns.mnt };
      this.root = root;
      this.cwd = root;
      return;
    }
    this.ns = { ...this.ns, [kind]: target.ns[kind] };
  }

  /** The process ends. The last process of a mount namespace takes the namespace's mounts with it. */
  exit(): void {
    this.alive = false;
    this.kernel.processes.delete(this.pid);
    this.kernel.dropUnusedNamespace(this.ns.mnt);
  }

  // ---- mounts ----------------------------------------------------------------------------------------

  /** mount(2). `source` is a path for MS_BIND/MS_MOVE, a device name otherwise. */
  mount(source: string, target: string, fsType: string | null, opts: MountOptions = {}): void {
    const flags = new Set(opts.flags ?? []);
    const data = opts.data ?? '';
    const k = this.kernel;
    const tgt = k.lookup(this, target);
    if (flags.has('MS_REMOUNT')) return this.remount(tgt, flags);
    if (flags.has('MS_BIND')) return this.bindMount(source, tgt, flags.has('MS_REC'), flags);
    const prop = (['MS_SHARED', 'MS_PRIVATE', 'MS_SLAVE', 'MS_UNBINDABLE'] as const).filter((f) =>
      flags.has(f),
    );
    if (prop.length > 1) fail('EINVAL', 'more than one propagation flag');
    if (prop.length === 1) {
      if (tgt.path !== tgt.mount.root) fail('EINVAL', `${target}: not a mount point`);
      if (tgt.mount.ns !== this.ns.mnt) fail('EINVAL', `${target}: not in this mount namespace`);
      const type = (
        {
          MS_SHARED: 'shared',
          MS_PRIVATE: 'private',
          MS_SLAVE: 'slave',
          MS_UNBINDABLE: 'unbindable',
        } as const
      )[prop[0] as 'MS_SHARED'];
      const mounts = flags.has('MS_REC') ? subtree(tgt.mount) : [tgt.mount];
      for (const m of mounts) k.changePropagation(m, type);
      return;
    }
    if (flags.has('MS_MOVE')) return this.moveMount(source, tgt);
    this.newMount(source, tgt, fsType, flags, data);
  }

  private applyMountFlags(m: Mount, flags: ReadonlySet<MountFlag>): void {
    m.readOnly = flags.has('MS_RDONLY');
    m.options.clear();
    if (flags.has('MS_NOSUID')) m.options.add('nosuid');
    if (flags.has('MS_NODEV')) m.options.add('nodev');
    if (flags.has('MS_NOEXEC')) m.options.add('noexec');
    if (flags.has('MS_NODIRATIME')) m.options.add('nodiratime');
    if (flags.has('MS_NOATIME')) m.options.add('noatime');
    else if (!flags.has('MS_STRICTATIME')) m.options.add('relatime');
  }

  private newMount(
    source: string,
    tgt: PathRef,
    fsType: string | null,
    flags: ReadonlySet<MountFlag>,
    data: string,
  ): void {
    const k = this.kernel;
    if (tgt.mount.ns !== this.ns.mnt) fail('EINVAL', 'target not in this mount namespace');
    if (tgt.mount.sb.fs.lstat(tgt.path).kind !== 'dir') fail('ENOTDIR', 'mount target is not a directory');
    const ro = flags.has('MS_RDONLY');
    // Superblock flags show up first among the superblock options (show_sb_opts).
    const sbFlags = SB_FLAGS.filter(([f]) => flags.has(f)).map(([, o]) => o);
    let sb: SuperBlock;
    if (fsType === 'tmpfs') {
      const { options, mode } = tmpfsOptions(data);
      sb = k.newSuperBlock(new MemFs('tmpfs', mode), [...sbFlags, ...options], ro);
    } else if (fsType === 'proc') {
      sb = k.newSuperBlock(new ProcFs(k, this.ns.pid), sbFlags, ro);
    } else if (fsType === 'overlay') {
      const ov = this.overlayFromData(data);
      sb = k.newSuperBlock(
        ov,
        [...sbFlags, ...overlayShowOptions(data, k.version)],
        ro || ov.layers.upper === null,
      );
    } else if (fsType === 'devpts') {
      sb = k.newSuperBlock(new MemFs('devpts', 0o755), [...sbFlags, ...devptsOptions(data)], ro);
    } else if (fsType === 'ramfs') {
      const mode = new Map(parseMountData(data)).get('mode');
      const opts =
        mode && parseInt(mode, 8) !== 0o755 ? [`mode=${parseInt(mode, 8).toString(8).padStart(3, '0')}`] : [];
      sb = k.newSuperBlock(new MemFs('ramfs', mode ? parseInt(mode, 8) : 0o755), [...sbFlags, ...opts], ro);
    } else if (fsType === 'sysfs') {
      // One sysfs superblock per network namespace, one mqueue per IPC namespace: a new mount reuses it,
      // so "ro" only makes the mount read-only (the host mounted it read-write at boot).
      sb = k.sharedSuperBlock('sysfs', this.ns.net);
    } else if (fsType === 'mqueue') {
      sb = k.sharedSuperBlock('mqueue', this.ns.ipc);
    } else {
      fail('ENODEV', `unknown filesystem type ${String(fsType)}`);
    }
    const m = k.newMount(sb, '/', source);
    this.applyMountFlags(m, flags);
    k.attachRecursive(m, tgt);
  }

  private overlayFromData(data: string): OverlayFs {
    const opts = new Map(parseMountData(data));
    const lowerdir = opts.get('lowerdir');
    if (!lowerdir) fail('EINVAL', 'overlay: missing lowerdir');
    const layer = (p: string): Layer => {
      const ref = this.kernel.lookup(this, p);
      if (ref.mount.sb.fs.lstat(ref.path).kind !== 'dir') fail('ENOTDIR', `overlay: ${p}: not a directory`);
      return { fs: ref.mount.sb.fs, path: ref.path };
    };
    const upperdir = opts.get('upperdir');
    const workdir = opts.get('workdir');
    if ((upperdir === undefined) !== (workdir === undefined))
      fail('EINVAL', 'overlay: upperdir needs workdir');
    return new OverlayFs({
      lower: lowerdir.split(':').map(layer),
      upper: upperdir ? layer(upperdir) : null,
      work: workdir ? layer(workdir) : null,
    });
  }

  private bindMount(source: string, tgt: PathRef, recursive: boolean, flags: ReadonlySet<MountFlag>): void {
    const k = this.kernel;
    const old = k.lookup(this, source);
    if (old.mount.unbindable) fail('EINVAL', `${source}: unbindable mount`);
    if (old.mount.ns !== this.ns.mnt || tgt.mount.ns !== this.ns.mnt)
      fail('EINVAL', 'not in this mount namespace');
    const srcKind = old.mount.sb.fs.lstat(old.path).kind;
    const dstKind = tgt.mount.sb.fs.lstat(tgt.path).kind;
    if ((srcKind === 'dir') !== (dstKind === 'dir'))
      fail(srcKind === 'dir' ? 'ENOTDIR' : 'EISDIR', 'bind type mismatch');
    const copy = k.bindTree(old, recursive);
    if (flags.has('MS_RDONLY')) copy.readOnly = true;
    k.attachRecursive(copy, tgt);
  }

  /** MS_REMOUNT: new per-mount flags; without MS_BIND also the superblock's read-only state. */
  private remount(tgt: PathRef, flags: ReadonlySet<MountFlag>): void {
    if (tgt.path !== tgt.mount.root) fail('EINVAL', 'not a mount point');
    if (!flags.has('MS_BIND')) tgt.mount.sb.readOnly = flags.has('MS_RDONLY');
    this.applyMountFlags(tgt.mount, flags);
  }

  private moveMount(source: string, tgt: PathRef): void {
    const k = this.kernel;
    const old = k.lookup(this, source, { mountpoint: true });
    const m = old.mount;
    if (old.path !== m.root || !m.parent) fail('EINVAL', `${source}: not a mount point`);
    if (m.parent.group !== null) fail('EINVAL', `${source}: parent mount is shared`);
    if (tgt.mount.group !== null && subtree(m).some((x) => x.unbindable)) {
      fail('EINVAL', 'cannot move unbindable mounts under a shared mount');
    }
    if (k.reachable(tgt, { mount: m, path: m.root })) fail('ELOOP', 'cannot move a mount under itself');
    k.moveAndPropagate(m, tgt);
  }

  /** umount2(2); `detach` is MNT_DETACH (lazy: take the whole subtree out now). */
  umount(target: string, opts: { detach?: boolean } = {}): void {
    const k = this.kernel;
    const ref = k.lookup(this, target, { mountpoint: true });
    const m = ref.mount;
    if (ref.path !== m.root) fail('EINVAL', `${target}: not a mount point`);
    if (m.ns !== this.ns.mnt) fail('EINVAL', `${target}: not in this mount namespace`);
    if (!m.parent) fail('EINVAL', `${target}: the namespace root cannot be unmounted`);
    if (!opts.detach) {
      if (m.children.length > 0) fail('EBUSY', `${target}: mounts below it`);
      for (const p of k.processes.values()) {
        if (p.root.mount === m || p.cwd.mount === m) fail('EBUSY', `${target}: in use by PID ${p.pid}`);
      }
    }
    k.umountTree(m, true, opts.detach ?? false);
  }

  // ---- root switching --------------------------------------------------------------------------------

  chdir(path: string): void {
    const ref = this.kernel.lookup(this, path);
    if (ref.mount.sb.fs.lstat(ref.path).kind !== 'dir') fail('ENOTDIR', `${path}: not a directory`);
    this.cwd = ref;
  }

  /** chroot(2): change this process's root only; cwd is left alone (it may stay outside). */
  chroot(path: string): void {
    const ref = this.kernel.lookup(this, path);
    if (ref.mount.sb.fs.lstat(ref.path).kind !== 'dir') fail('ENOTDIR', `${path}: not a directory`);
    this.root = ref;
  }

  /** pivot_root(2), with the kernel's checks in the kernel's order. */
  pivotRoot(newRootPath: string, putOldPath: string): void {
    const k = this.kernel;
    const nw = k.lookup(this, newRootPath);
    if (nw.mount.sb.fs.lstat(nw.path).kind !== 'dir') fail('ENOTDIR', `${newRootPath}: not a directory`);
    const oldLoc = k.lookup(this, putOldPath);
    if (oldLoc.mount.sb.fs.lstat(oldLoc.path).kind !== 'dir')
      fail('ENOTDIR', `${putOldPath}: not a directory`);
    const root = this.root;
    const rootMnt = root.mount;
    const newMnt = nw.mount;
    // lock_mount(): put_old becomes the topmost mount stacked there.
    const at = k.followDown(oldLoc);
    const oldMnt = at.mount;
    if (oldMnt.group !== null || newMnt.parent?.group != null || rootMnt.parent?.group != null) {
      fail('EINVAL', 'shared mount involved (make / private first: mount --make-rprivate /)');
    }
    if (rootMnt.ns !== this.ns.mnt || newMnt.ns !== this.ns.mnt)
      fail('EINVAL', 'not in this mount namespace');
    if (newMnt === rootMnt || oldMnt === rootMnt)
      fail('EBUSY', 'new_root or put_old on the current root mount');
    if (root.path !== rootMnt.root) fail('EINVAL', 'the current root is not a mount point (chroot?)');
    if (!rootMnt.parent) fail('EINVAL', 'the current root is the namespace root (initramfs rootfs)');
    if (nw.path !== newMnt.root) fail('EINVAL', `${newRootPath}: new_root is not a mount point`);
    if (!newMnt.parent) fail('EINVAL', `${newRootPath}: new_root is the namespace root`);
    if (!k.reachable(at, nw)) fail('EINVAL', `${putOldPath}: put_old is not under new_root`);
    if (!k.reachable(nw, root)) fail('EINVAL', `${newRootPath}: new_root is not under the current root`);
    const rootParent = rootMnt.parent as Mount;
    const rootMp = rootMnt.mountpoint;
    // Move new_root to where the old root was, then put the old root on put_old.
    k.moveSubtree(newMnt, { mount: rootParent, path: rootMp });
    k.moveSubtree(rootMnt, at);
    const newRoot: PathRef = { mount: newMnt, path: newMnt.root };
    for (const p of k.processes.values()) {
      if (p.root.mount === rootMnt && p.root.path === root.path) p.root = newRoot;
      if (p.cwd.mount === rootMnt && p.cwd.path === root.path) p.cwd = newRoot;
    }
  }

  // ---- files -----------------------------------------------------------------------------------------

  private writable(ref: PathRef): void {
    if (ref.mount.readOnly || ref.mount.sb.readOnly) fail('EROFS', 'read-only file system');
  }

  /** Parent directory and name for creating or removing `path`. */
  private parentRef(path: string): [PathRef, string] {
    const name = basename(path);
    if (name === '..' || components(path).length === 0) fail('EINVAL', `${path}: bad name`);
    const dir = this.kernel.lookup(this, path.startsWith('/') ? dirname(path) : joinRel(path));
    if (dir.mount.sb.fs.lstat(dir.path).kind !== 'dir') fail('ENOTDIR', `${path}: not a directory`);
    return [dir, name];
  }

  private isMountpoint(ref: PathRef): boolean {
    return this.kernel.mountedOn(ref) !== null;
  }

  stat(path: string): Stat {
    const ref = this.kernel.lookup(this, path);
    return ref.mount.sb.fs.lstat(ref.path);
  }

  lstat(path: string): Stat {
    const ref = this.kernel.lookup(this, path, { follow: false });
    return ref.mount.sb.fs.lstat(ref.path);
  }

  exists(path: string): boolean {
    try {
      this.lstat(path);
      return true;
    } catch {
      return false;
    }
  }

  readdir(path: string): string[] {
    const ref = this.kernel.lookup(this, path);
    return ref.mount.sb.fs.readdir(ref.path);
  }

  readFile(path: string): string {
    const ref = this.kernel.lookup(this, path);
    return ref.mount.sb.fs.readFile(ref.path);
  }

  readlink(path: string): string {
    const ref = this.kernel.lookup(this, path, { follow: false });
    return ref.mount.sb.fs.readlink(ref.path);
  }

  /** open(O_WRONLY|O_CREAT|O_TRUNC or O_APPEND) and write. */
  writeFile(path: string, content: string, opts: CreateOptions & { append?: boolean } = {}, links = 0): void {
    let ref: PathRef;
    try {
      ref = this.kernel.lookup(this, path);
    } catch (err) {
      if (!isModelError(err, 'ENOENT')) throw err;
      const [dir, name] = this.parentRef(path);
      ref = { mount: dir.mount, path: childPath(dir.path, name) };
      const fs = ref.mount.sb.fs;
      if (fs.lstatOrNull(ref.path)?.kind === 'symlink') {
        // O_CREAT follows a dangling symlink and creates its target (relative to the link's directory).
        if (links >= MAX_SYMLINKS) fail('ELOOP', `${path}: too many levels of symbolic links`);
        const target = fs.readlink(ref.path);
        const next = target.startsWith('/') ? target : path.slice(0, path.lastIndexOf('/') + 1) + target;
        this.writeFile(next, content, opts, links + 1);
        return;
      }
    }
    // O_CREAT on a directory is EISDIR before anything else (do_open), a mount's root included.
    if (ref.mount.sb.fs.lstatOrNull(ref.path)?.kind === 'dir') fail('EISDIR', `${path}: is a directory`);
    this.writable(ref);
    ref.mount.sb.fs.writeFile(ref.path, content, opts);
  }

  private create(path: string, fn: (fs: FileSystem, p: string) => void): void {
    const [dir, name] = this.parentRef(path);
    this.writable(dir);
    fn(dir.mount.sb.fs, childPath(dir.path, name));
  }

  mkdir(path: string, opts?: CreateOptions): void {
    this.create(path, (fs, p) => fs.mkdir(p, opts));
  }

  /** mkdir -p: EEXIST when the path is something else than a directory, ENOTDIR for a parent. */
  mkdirp(path: string, opts?: CreateOptions): void {
    const parts = components(path);
    for (let i = 1; i <= parts.length; i++) {
      const p = (path.startsWith('/') ? '/' : '') + parts.slice(0, i).join('/');
      if (!this.exists(p)) this.mkdir(p, opts);
      else if (this.stat(p).kind !== 'dir')
        fail(i === parts.length ? 'EEXIST' : 'ENOTDIR', `${p}: not a directory`);
    }
  }

  symlink(target: string, path: string): void {
    this.create(path, (fs, p) => fs.symlink(target, p));
  }

  mknod(path: string, major: number, minor: number, opts?: CreateOptions): void {
    this.create(path, (fs, p) => fs.mknod(p, major, minor, opts));
  }

  private removal(path: string): PathRef {
    const [dir, name] = this.parentRef(path);
    this.writable(dir);
    const ref = { mount: dir.mount, path: childPath(dir.path, name) };
    if (this.isMountpoint(ref)) fail('EBUSY', `${path}: mount point`);
    return ref;
  }

  unlink(path: string): void {
    const ref = this.removal(path);
    ref.mount.sb.fs.unlink(ref.path);
  }

  rmdir(path: string): void {
    const ref = this.removal(path);
    ref.mount.sb.fs.rmdir(ref.path);
  }

  /** rename(2) with the VFS's checks in do_renameat2()/vfs_rename() order, before the filesystem's own. */
  rename(from: string, to: string): void {
    const [fromDir, fromName] = this.parentRef(from);
    const [toDir, toName] = this.parentRef(to);
    if (fromDir.mount !== toDir.mount) fail('EXDEV', `${from} and ${to} are on different mounts`);
    this.writable(fromDir);
    const a = { mount: fromDir.mount, path: childPath(fromDir.path, fromName) };
    const b = { mount: toDir.mount, path: childPath(toDir.path, toName) };
    const fs = a.mount.sb.fs;
    const src = fs.lstatOrNull(a.path);
    if (!src) fail('ENOENT', `${from}: no such file or directory`);
    // lock_rename()'s trap: the source may not be an ancestor of the target, nor the target of the source.
    if (fromDir.path !== toDir.path) {
      if (isUnder(toDir.path, a.path)) fail('EINVAL', `${to} is inside ${from}`);
      if (isUnder(fromDir.path, b.path)) fail('ENOTEMPTY', `${to} is an ancestor of ${from}`);
    }
    if (a.path === b.path) return;
    const dst = fs.lstatOrNull(b.path);
    if (dst) {
      // may_delete() on the target, with the source's type.
      if (src.kind === 'dir' && dst.kind !== 'dir') fail('ENOTDIR', `${to}: not a directory`);
      if (src.kind !== 'dir' && dst.kind === 'dir') fail('EISDIR', `${to}: is a directory`);
    }
    if (this.isMountpoint(a) || this.isMountpoint(b)) fail('EBUSY', `${from} or ${to}: mount point`);
    fs.rename(a.path, b.path);
  }

  chmod(path: string, mode: number): void {
    const ref = this.kernel.lookup(this, path);
    this.writable(ref);
    ref.mount.sb.fs.chmod(ref.path, mode);
  }

  chown(path: string, uid: number, gid: number): void {
    const ref = this.kernel.lookup(this, path);
    this.writable(ref);
    ref.mount.sb.fs.chown(ref.path, uid, gid);
  }

  getxattr(path: string, name: string): string | null {
    const ref = this.kernel.lookup(this, path, { follow: false });
    return ref.mount.sb.fs.getxattr(ref.path, name);
  }

  setxattr(path: string, name: string, value: string): void {
    const ref = this.kernel.lookup(this, path, { follow: false });
    this.writable(ref);
    ref.mount.sb.fs.setxattr(ref.path, name, value);
  }

  /** This process's /proc/self/mountinfo entries. */
  mountinfo(): MountInfo[] {
    return this.kernel.mountinfo(this);
  }

  /** The text of /proc/self/mountinfo. */
  readMountinfo(): string {
    return this.kernel.renderMountinfo(this);
  }
}

/** A relative path's parent directory, relative to cwd ("." when it has one component). */
function joinRel(path: string): string {
  const parts = components(path);
  parts.pop();
  return parts.length === 0 ? '.' : parts.join('/');
}

function remap(ref: PathRef, map: Map<Mount, Mount>): PathRef {
  const m = map.get(ref.mount);
  return m ? { mount: m, path: ref.path } : ref;
}

/**
 * overlay's show_options as Linux 6.18 prints them with the default module parameters: the layer paths as
 * given, then "uuid=on" for a writable overlay, or "redirect_dir=on" for a lowerdir-only (read-only) one.
 * 6.1 (Debian's defaults) prints the layer paths only.
 */
function overlayShowOptions(data: string, release: KernelRelease): string[] {
  const opts = new Map(parseMountData(data));
  const out: string[] = [];
  for (const k of ['lowerdir', 'upperdir', 'workdir']) {
    const v = opts.get(k);
    if (v !== undefined && v !== null) out.push(`${k}=${v}`);
  }
  if (release !== '6.1') out.push(opts.has('upperdir') ? 'uuid=on' : 'redirect_dir=on');
  return out;
}
