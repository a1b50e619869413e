// A read-only procfs for the model: /proc/self, /proc/PID/{mountinfo,mounts}, /proc/PID/ns/*.
// Like the kernel, "self" means the process making the current system call (Kernel.current).

import { mountinfoToMounts, renderMounts } from '../mount/mountinfo.js';
import { fail, isModelError } from './errors.js';
import type { FileSystem, Stat } from './fs.js';
import type { Kernel, NsKind, PidNamespace, Process } from './kernel.js';
import { components } from './path.js';

const NS_ENTRIES: ReadonlyArray<NsKind | 'pid_for_children'> = [
  'cgroup',
  'ipc',
  'mnt',
  'net',
  'pid',
  'pid_for_children',
  'uts',
];

type ProcNode =
  | { kind: 'dir'; entries: () => string[] }
  | { kind: 'file'; content: () => string }
  | { kind: 'symlink'; target: () => string };

export class ProcFs implements FileSystem {
  readonly fsType = 'proc';

  constructor(
    private readonly kernel: Kernel,
    private readonly pidNs: PidNamespace,
  ) {}

  private procs(): Array<[number, Process]> {
    const out: Array<[number, Process]> = [];
    for (const p of this.kernel.processes.values()) {
      const n = p.pidIn(this.pidNs);
      if (n !== null) out.push([n, p]);
    }
    return out.sort((a, b) => a[0] - b[0]);
  }

  private node(path: string): ProcNode {
    const parts = components(path);
    const [first, second, third] = parts;
    if (first === undefined) {
      return { kind: 'dir', entries: () => ['self', ...this.procs().map(([n]) => String(n))].sort() };
    }
    if (first === 'self' && parts.length === 1) {
      return {
        kind: 'symlink',
        target: () => {
          const cur = this.kernel.current;
          const n = cur ? cur.pidIn(this.pidNs) : null;
          if (n === null) fail('ENOENT', '/proc/self: caller not in this PID namespace');
          return String(n);
        },
      };
    }
    const proc = this.procs().find(([n]) => String(n) === first)?.[1];
    if (!proc || parts.length > 3) fail('ENOENT', `/proc${path}: no such file or directory`);
    if (second === undefined) return { kind: 'dir', entries: () => ['mountinfo', 'mounts', 'ns'] };
    if (second === 'mountinfo' && third === undefined) {
      return { kind: 'file', content: () => this.kernel.renderMountinfo(proc) };
    }
    if (second === 'mounts' && third === undefined) {
      return {
        kind: 'file',
        content: () => renderMounts(this.kernel.mountinfo(proc).map(mountinfoToMounts)),
      };
    }
    if (second === 'ns') {
      if (third === undefined) return { kind: 'dir', entries: () => [...NS_ENTRIES] };
      const kind = NS_ENTRIES.find((k) => k === third);
      if (kind) return { kind: 'symlink', target: () => proc.nsLink(kind) };
    }
    return fail('ENOENT', `/proc${path}: no such file or directory`);
  }

  lstat(path: string): Stat {
    const n = this.node(path);
    const mode = n.kind === 'dir' ? 0o555 : n.kind === 'file' ? 0o444 : 0o777;
    return { kind: n.kind, mode, uid: 0, gid: 0, size: 0, ino: 0, rdevMajor: 0, rdevMinor: 0 };
  }

  lstatOrNull(path: string): Stat | null {
    try {
      return this.lstat(path);
    } catch (err) {
      if (isModelError(err, 'ENOENT')) return null;
      throw err;
    }
  }

  readdir(path: string): string[] {
    const n = this.node(path);
    if (n.kind !== 'dir') fail('ENOTDIR', `/proc${path}: not a directory`);
    return n.entries();
  }

  readFile(path: string): string {
    const n = this.node(path);
    if (n.kind === 'dir') fail('EISDIR', `/proc${path}: is a directory`);
    if (n.kind !== 'file') fail('EINVAL', `/proc${path}: not a regular file`);
    return n.content();
  }

  readlink(path: string): string {
    const n = this.node(path);
    if (n.kind !== 'symlink') fail('EINVAL', `/proc${path}: not a symlink`);
    return n.target();
  }

  private readOnly(): never {
    return fail('EPERM', 'procfs is read-only in the model');
  }

  mkdir(): void {
    this.readOnly();
  }
  writeFile(): void {
    this.readOnly();
  }
  mknod(): void {
    this.readOnly();
  }
  symlink(): void {
    this.readOnly();
  }
  unlink(): void {
    this.readOnly();
  }
  rmdir(): void {
    this.readOnly();
  }
  rename(): void {
    this.readOnly();
  }
  chmod(): void {
    this.readOnly();
  }
  chown(): void {
    this.readOnly();
  }
  getxattr(path: string): string | null {
    this.node(path);
    return null;
  }
  setxattr(): void {
    this.readOnly();
  }
  removexattr(): void {
    this.readOnly();
  }
  listxattr(path: string): string[] {
    this.node(path);
    return [];
  }
}
