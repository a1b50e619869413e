// Differential testing support: run one small scenario in the kernel model and on the real kernel (in a
// private mount namespace made by util-linux `unshare -m`), then compare what each reports.
// Only the tests use this file: it needs Node and root. The calls the shell has no tool for (rename(2)
// with its errno, setxattr) and the tree listings are made by this process through the shell's
// /proc/PID/root, which resolves paths in the shell's own mount namespace and root (so after its
// pivot_root too), while the shell waits for the answer.

import { execFileSync, spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MountInfo } from '../../shared/src/mount/mountinfo.js';
import { parseMountOptions } from '../../shared/src/mount/options.js';
import type { MountSpec } from '../../shared/src/spec.js';
import { normaliseMountinfo, parseMountinfo, renderMountinfo } from '../../shared/src/mount/mountinfo.js';
import type { Process, Propagation, Stat, TreeEntry, TreeReader } from '../../shared/src/model/index.js';
import { Kernel, ModelError, OPAQUE_XATTR, snapshotTree } from '../../shared/src/model/index.js';
import { lgetxattr, lsetxattr, SyscallError } from '../../backend-native/src/libc.js';

/** Scenario steps. Paths may start with "@", the scenario's directory. */
export type Step =
  | { op: 'mkdir'; path: string }
  | { op: 'tmpfs'; target: string; source?: string; data?: string }
  | { op: 'overlay'; target: string; lower: string[]; upper?: string; work?: string }
  | { op: 'bind'; source: string; target: string; rec?: boolean }
  | { op: 'move'; source: string; target: string }
  /** mount -o remount,OPTIONS: "bind", "ro", "nosuid", "nodev", "noexec". */
  | { op: 'remount'; target: string; options: Array<'bind' | 'ro' | 'nosuid' | 'nodev' | 'noexec'> }
  | { op: 'proc'; target: string }
  /** An OCI mount (spec.ts MountSpec) with its destination under `root`. */
  | { op: 'spec'; root: string; mount: MountSpec }
  /** A symlink; a target starting with "@" points into the scenario dir. */
  | { op: 'symlink'; target: string; path: string }
  /** A character device (0/0 is a whiteout). */
  | { op: 'mknod'; path: string; major: number; minor: number }
  /** Run `steps` in a new mount namespace copied from the current one, propagation unchanged. */
  | { op: 'unshare'; steps: Step[] }
  | { op: 'make'; target: string; type: Propagation; rec?: boolean }
  /** `tool` runs umount through that binary for real (e.g. a static busybox after pivot_root). */
  | { op: 'umount'; target: string; lazy?: boolean; tool?: string }
  /**
   * The mountinfo a process chrooted into `root` sees (needs a static busybox at root/busybox and proc
   * mounted at root/proc for real). Recorded in RunResult.captures under the step's index.
   */
  | { op: 'chrootMountinfo'; root: string }
  /** Read a file; its content is recorded in RunResult.texts under the step's index. */
  | { op: 'cat'; path: string }
  | { op: 'setxattr'; path: string; name: string; value: string }
  /** A shell command run for real only (the model treats it as a no-op). */
  | { op: 'sh'; cmd: string }
  | { op: 'write'; path: string; content: string }
  | { op: 'rm'; path: string }
  | { op: 'rmdir'; path: string }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'rename'; from: string; to: string }
  | { op: 'cd'; path: string }
  | { op: 'pivot'; newRoot: string; putOld: string };

/** "ok" or an errno name; "failed" when the real command failed without a recognisable message. */
export type Outcome = 'ok' | string;

export interface RunResult {
  outcomes: Outcome[];
  mountinfo: MountInfo[];
  /** Merged-view snapshots of the requested directories (taken inside the namespace). */
  trees: Record<string, TreeEntry[]>;
  /** File contents read by cat steps, by step index. */
  texts: Record<number, string>;
  /** Mount tables captured by chrootMountinfo steps, by step index. */
  captures: Record<number, MountInfo[]>;
  /** The shell's output (real runs), for failure messages. */
  raw?: string;
}

/** Fails (never skips) when the real-kernel tests cannot run here. */
export function requireRealKernel(): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error('real-kernel differential tests need root (they mount inside `unshare -m`)');
  }
  if (!/\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'))) {
    throw new Error('real-kernel differential tests need overlayfs (modprobe overlay)');
  }
  execFileSync('unshare', ['--version'], { stdio: 'ignore' });
}

const MODEL_DIR = '/T';

function at(path: string, dir: string): string {
  return path.startsWith('@') ? dir + path.slice(1) : path;
}

// ---- model side --------------------------------------------------------------------------------------

function modelStep(p: Process, s: Step): void {
  const a = (x: string) => at(x, MODEL_DIR);
  switch (s.op) {
    case 'mkdir':
      return p.mkdirp(a(s.path));
    case 'tmpfs':
      return p.mount(s.source ?? 'none', a(s.target), 'tmpfs', { data: s.data ?? '' });
    case 'overlay':
      return p.mount('overlay', a(s.target), 'overlay', { data: overlayData(s, MODEL_DIR) });
    case 'bind':
      return p.mount(a(s.source), a(s.target), null, { flags: s.rec ? ['MS_BIND', 'MS_REC'] : ['MS_BIND'] });
    case 'make': {
      const flag = (
        {
          shared: 'MS_SHARED',
          slave: 'MS_SLAVE',
          private: 'MS_PRIVATE',
          unbindable: 'MS_UNBINDABLE',
        } as const
      )[s.type];
      return p.mount('', a(s.target), null, { flags: s.rec ? [flag, 'MS_REC'] : [flag] });
    }
    case 'umount':
      return p.umount(a(s.target), { detach: s.lazy ?? false });
    case 'write':
      return p.writeFile(a(s.path), s.content);
    case 'rm':
      return p.unlink(a(s.path));
    case 'rmdir':
      return p.rmdir(a(s.path));
    case 'chmod':
      return p.chmod(a(s.path), s.mode);
    case 'rename':
      return p.rename(a(s.from), a(s.to));
    case 'cd':
      return p.chdir(a(s.path));
    case 'pivot':
      return p.pivotRoot(a(s.newRoot), a(s.putOld));
    case 'move':
      return p.mount(a(s.source), a(s.target), null, { flags: ['MS_MOVE'] });
    case 'remount': {
      const map = {
        bind: 'MS_BIND',
        ro: 'MS_RDONLY',
        nosuid: 'MS_NOSUID',
        nodev: 'MS_NODEV',
        noexec: 'MS_NOEXEC',
      } as const;
      return p.mount('', a(s.target), null, { flags: ['MS_REMOUNT', ...s.options.map((o) => map[o])] });
    }
    case 'proc':
      return p.mount('proc', a(s.target), 'proc');
    case 'spec': {
      const { flags, data, propagation } = parseMountOptions(s.mount.options);
      const target = a(s.root) + s.mount.destination;
      const type = s.mount.type === 'bind' ? null : s.mount.type;
      p.mount(s.mount.type === 'bind' ? a(s.mount.source) : s.mount.source, target, type, { flags, data });
      for (const pg of propagation) p.mount('', target, null, { flags: pg });
      return;
    }
    case 'symlink':
      return p.symlink(a(s.target), a(s.path));
    case 'mknod':
      return p.mknod(a(s.path), s.major, s.minor, { mode: 0 });
    case 'sh':
      return;
    case 'setxattr':
      return p.setxattr(a(s.path), s.name, s.value);
    case 'unshare':
    case 'chrootMountinfo':
    case 'cat':
      throw new Error('handled by runSteps');
  }
}

function overlayData(s: Extract<Step, { op: 'overlay' }>, dir: string): string {
  const parts = [`lowerdir=${s.lower.map((l) => at(l, dir)).join(':')}`];
  if (s.upper) parts.push(`upperdir=${at(s.upper, dir)}`);
  if (s.work) parts.push(`workdir=${at(s.work, dir)}`);
  return parts.join(',');
}

/** Run the scenario in the model, as `unshare -m` would: a new mount namespace with / made rprivate. */
export function runModel(
  steps: readonly Step[],
  trees: readonly string[] = [],
): RunResult & { proc: Process; host: Process } {
  const k = new Kernel();
  k.init.mkdirp(MODEL_DIR);
  const p = k.init.clone({ namespaces: ['mnt'] });
  p.mount('', '/', null, { flags: ['MS_PRIVATE', 'MS_REC'] });
  const outcomes: Outcome[] = [];
  const captures: Record<number, MountInfo[]> = {};
  const texts: Record<number, string> = {};
  const runSteps = (proc: Process, list: readonly Step[]): void => {
    for (const s of list) {
      if (s.op === 'cat') {
        try {
          texts[outcomes.length] = proc.readFile(at(s.path, MODEL_DIR));
          outcomes.push('ok');
        } catch (err) {
          if (!(err instanceof ModelError)) throw err;
          outcomes.push(err.code);
        }
        continue;
      }
      if (s.op === 'chrootMountinfo') {
        const c = proc.clone();
        c.chroot(at(s.root, MODEL_DIR));
        captures[outcomes.length] = c.mountinfo();
        c.exit();
        outcomes.push('ok');
        continue;
      }
      if (s.op === 'unshare') {
        outcomes.push('ok');
        runSteps(proc.clone({ namespaces: ['mnt'] }), s.steps);
        continue;
      }
      try {
        modelStep(proc, s);
        outcomes.push('ok');
      } catch (err) {
        if (!(err instanceof ModelError)) throw err;
        outcomes.push(err.code);
      }
    }
  };
  runSteps(p, steps);
  const snap: Record<string, TreeEntry[]> = {};
  for (const t of trees) snap[t] = snapshotTree(p, at(t, MODEL_DIR));
  return { outcomes, mountinfo: p.mountinfo(), trees: snap, captures, texts, proc: p, host: k.init };
}

// ---- real side ---------------------------------------------------------------------------------------

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Steps this process carries out (through /proc/PID/root) while the shell waits. */
type HostCall = Extract<Step, { op: 'rename' | 'setxattr' }>;

/** A path of the process PID as that process resolves it (its root, its cwd, its mounts). */
function viaProc(pid: number, p: string): string {
  return p.startsWith('/') ? `/proc/${pid}/root${p}` : `/proc/${pid}/cwd/${p}`;
}

/** "ok" or the errno name of the one system call. */
function hostCall(s: HostCall, dir: string, pid: number): Outcome {
  const a = (x: string) => viaProc(pid, at(x, dir));
  try {
    if (s.op === 'rename') renameSync(a(s.from), a(s.to));
    else lsetxattr(a(s.path), s.name, s.value);
    return 'ok';
  } catch (err) {
    if (err instanceof SyscallError) return err.code;
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    throw err;
  }
}

/** rdev's major and minor, as glibc's gnu_dev_major/minor split them. */
function devParts(rdev: number): [number, number] {
  return [
    ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff),
    (rdev & 0xff) | ((rdev >> 12) & ~0xff),
  ];
}

/** Every entry under root, depth first in name order (content of files, targets, devices). */
function listTree(root: string): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (abs: string, rel: string): void => {
    for (const n of readdirSync(abs).sort()) {
      const p = join(abs, n);
      const rp = `${rel.replace(/\/$/, '')}/${n}`;
      const st = lstatSync(p);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        out.push({ path: rp, mode, kind: 'dir' });
        walk(p, rp);
      } else if (st.isFile()) out.push({ path: rp, mode, kind: 'file', content: readFileSync(p, 'utf8') });
      else if (st.isSymbolicLink()) out.push({ path: rp, mode, kind: 'symlink', target: readlinkSync(p) });
      else out.push({ path: rp, mode, kind: 'chardev', rdev: devParts(st.rdev).join(':') });
    }
  };
  walk(root, '/');
  return out;
}

function shellStep(s: Step, dir: string): string {
  const a = (x: string) => q(at(x, dir));
  switch (s.op) {
    case 'mkdir':
      return `mkdir -p ${a(s.path)}`;
    case 'tmpfs':
      return `mount -t tmpfs ${s.data ? `-o ${q(s.data)} ` : ''}${q(s.source ?? 'none')} ${a(s.target)}`;
    case 'overlay':
      return `mount -t overlay overlay -o ${q(overlayData(s, dir))} ${a(s.target)}`;
    case 'bind':
      return `mount ${s.rec ? '--rbind' : '--bind'} ${a(s.source)} ${a(s.target)}`;
    case 'make':
      return `mount --make-${s.rec ? 'r' : ''}${s.type} ${a(s.target)}`;
    case 'umount':
      return `${s.tool ? `${q(s.tool)} ` : ''}umount ${s.lazy ? '-l ' : ''}${a(s.target)}`;
    case 'write':
      return `printf %s ${q(s.content)} > ${a(s.path)}`;
    case 'rm':
      return `rm ${a(s.path)}`;
    case 'rmdir':
      return `rmdir ${a(s.path)}`;
    case 'chmod':
      return `chmod ${s.mode.toString(8)} ${a(s.path)}`;
    case 'cd':
      return `cd ${a(s.path)}`;
    case 'pivot':
      return `pivot_root ${a(s.newRoot)} ${a(s.putOld)}`;
    case 'move':
      return `mount --move ${a(s.source)} ${a(s.target)}`;
    case 'remount':
      return `mount -o ${q(['remount', ...s.options].join(','))} ${a(s.target)}`;
    case 'proc':
      return `mount -t proc proc ${a(s.target)}`;
    case 'spec': {
      const m = s.mount;
      const opts = m.options;
      const typeArg = m.type === 'bind' ? '' : `-t ${q(m.type)} `;
      const src = m.type === 'bind' ? a(m.source) : q(m.source);
      return `mount ${typeArg}${opts.length ? `-o ${q(opts.join(','))} ` : ''}${src} ${q(at(s.root, dir) + m.destination)}`;
    }
    case 'symlink':
      return `ln -sT ${a(s.target)} ${a(s.path)}`;
    case 'mknod':
      return `mknod -m 000 ${a(s.path)} c ${s.major} ${s.minor}`;
    case 'sh':
      return s.cmd.replace(/@/g, dir);
    case 'chrootMountinfo':
      return `chroot ${a(s.root)} /busybox cat /proc/self/mountinfo`;
    case 'cat':
      return `cat ${a(s.path)}`;
    case 'rename':
    case 'setxattr':
      throw new Error('made by this process: see hostCall');
    case 'unshare':
      throw new Error('nested steps are rendered by scriptLines');
  }
}

const STRERROR: ReadonlyArray<[RegExp, string]> = [
  [/Invalid cross-device link/, 'EXDEV'],
  [/Invalid argument|wrong fs type, bad option|bad option; moving a mount/, 'EINVAL'],
  [/Device or resource busy|target is busy/, 'EBUSY'],
  [/No such file or directory|Directory nonexistent|mount point does not exist/, 'ENOENT'],
  [/Directory not empty/, 'ENOTEMPTY'],
  [/Operation not permitted|Permission denied/, 'EPERM'],
  [/Read-only file system/, 'EROFS'],
  [/File exists/, 'EEXIST'],
];

function errnoFromMessage(msg: string): string {
  for (const [re, code] of STRERROR) if (re.test(msg)) return code;
  return 'failed';
}

/**
 * Run the scenario for real inside `unshare -m sh -c`, under a fresh temp dir that is removed afterwards
 * (mounts die with the namespace). The mount table is read from the host through /proc/PID/mountinfo
 * while the shell waits, so it is shown relative to the shell's root even after pivot_root; the trees
 * are listed then, through /proc/PID/root. A rename or setxattr step prints "@@call I PID" and waits
 * for this process to make the call as PID (hostCall) and answer "ok" or the errno name.
 * `inspect` runs on the host after the namespace is gone, before the temp dir is removed.
 */
export async function runReal<T = undefined>(
  steps: readonly Step[],
  opts: { trees?: readonly string[]; inspect?: (dir: string) => T } = {},
): Promise<RunResult & { dir: string; inspected: T | undefined }> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-kmodel-'));
  try {
    let n = 0;
    const chrootSteps = new Set<number>();
    const catSteps = new Set<number>();
    const hostCalls = new Map<number, HostCall>();
    const scriptLines = (list: readonly Step[]): string[] => {
      const out: string[] = [];
      for (const s of list) {
        const i = n++;
        if (s.op === 'chrootMountinfo') chrootSteps.add(i);
        if (s.op === 'cat') catSteps.add(i);
        if (s.op === 'rename' || s.op === 'setxattr') hostCalls.set(i, s);
        const cmd =
          s.op === 'unshare'
            ? `unshare -m --propagation unchanged sh -c ${q(scriptLines(s.steps).join('\n'))}`
            : hostCalls.has(i)
              ? `echo "@@call ${i} $$"; read r; [ "$r" = ok ]`
              : shellStep(s, dir);
        // The bare echo ends output that lacks a final newline; the parser drops it again.
        out.push(`echo "@@step ${i}"`, cmd, 'rc=$?', 'echo', `echo "@@rc ${i} $rc"`);
      }
      return out;
    };
    const lines: string[] = ['exec 2>&1', ...scriptLines(steps), 'echo "@@ready"', 'read x', 'echo "@@done"'];
    const child = spawn('unshare', ['-m', 'sh', '-c', lines.join('\n')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    let mountinfoText = '';
    const trees: Record<string, TreeEntry[]> = {};
    const callOutcomes = new Map<number, Outcome>();
    const CALL = /^@@call (\d+) (\d+)\n/gm;
    let scanned = 0; // exec() that finds nothing resets lastIndex: each call is answered once
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        try {
          CALL.lastIndex = scanned;
          for (let m = CALL.exec(out); m; m = CALL.exec(out)) {
            scanned = CALL.lastIndex;
            const i = Number(m[1]);
            const outcome = hostCall(hostCalls.get(i)!, dir, Number(m[2]));
            callOutcomes.set(i, outcome);
            child.stdin.write(`${outcome}\n`);
          }
          if (mountinfoText === '' && out.includes('@@ready\n')) {
            mountinfoText = readFileSync(`/proc/${child.pid}/mountinfo`, 'utf8');
            for (const t of opts.trees ?? []) trees[t] = listTree(viaProc(child.pid!, at(t, dir)));
            child.stdin.end('\n');
          }
        } catch (err) {
          child.kill('SIGKILL');
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      child.on('close', (code) => {
        if (!out.includes('@@done'))
          reject(new Error(`unshare scenario ended early (exit ${code}):\n${out}`));
        else resolve();
      });
    });
    const outcomes: Outcome[] = [];
    const captures: Record<number, MountInfo[]> = {};
    const texts: Record<number, string> = {};
    const chunks = out.split(/^@@/m);
    for (const c of chunks) {
      const step = /^step (\d+)\n([\s\S]*)$/.exec(c);
      const rc = /^rc (\d+) (\d+)\n/.exec(c);
      if (step) {
        step[2] = (step[2] ?? '').replace(/\n$/, '');
        outcomes[Number(step[1])] = step[2];
        if (chrootSteps.has(Number(step[1]))) captures[Number(step[1])] = parseMountinfo(step[2] ?? '');
        if (catSteps.has(Number(step[1]))) texts[Number(step[1])] = step[2] ?? '';
      } else if (rc) {
        const i = Number(rc[1]);
        outcomes[i] = rc[2] === '0' ? 'ok' : errnoFromMessage(outcomes[i] ?? '');
        if (rc[2] !== '0') delete texts[i];
      }
    }
    for (const [i, outcome] of callOutcomes) outcomes[i] = outcome;
    const inspected = opts.inspect ? opts.inspect(dir) : undefined;
    return {
      outcomes,
      mountinfo: parseMountinfo(mountinfoText),
      trees,
      captures,
      texts,
      dir,
      inspected,
      raw: out,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- comparison --------------------------------------------------------------------------------------

/** Mounts at or under `under` (after mapping the scenario dir to /T), normalised and rendered. */
export function comparableMounts(entries: readonly MountInfo[], dir: string, under = MODEL_DIR): string {
  const norm = normaliseMountinfo(entries, { replacePrefixes: [[dir, MODEL_DIR]] });
  const keep = norm.filter(
    (e) => under === '/' || e.mountPoint === under || e.mountPoint.startsWith(under + '/'),
  );
  return renderMountinfo(normaliseMountinfo(keep));
}

function kindOf(mode: number): Stat['kind'] {
  const t = mode & 0o170000;
  if (t === 0o040000) return 'dir';
  if (t === 0o100000) return 'file';
  if (t === 0o120000) return 'symlink';
  return 'chardev';
}

/** A TreeReader over a host directory, through node:fs (whiteouts show as char devices 0/0). */
export function hostTreeReader(xattrName: string, root: string): TreeReader {
  return {
    lstat(path: string): Stat {
      const st = lstatSync(path);
      const [rdevMajor, rdevMinor] = devParts(st.rdev);
      return {
        kind: kindOf(st.mode),
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        size: st.size,
        ino: st.ino,
        rdevMajor,
        rdevMinor,
      };
    },
    readdir: (path: string) => readdirSync(path).sort(),
    readFile: (path: string) => readFileSync(path, 'utf8'),
    readlink: (path: string) => readlinkSync(path),
    getxattr: (path: string, name: string) => {
      if (name !== xattrName || !path.startsWith(root + '/')) return null;
      try {
        return lgetxattr(path, name);
      } catch {
        return null; // as ENODATA: e.g. a trusted.* name on a symlink
      }
    },
  };
}

/** Snapshot of a host directory with the overlay opaque xattr. */
export function hostTree(dir: string): TreeEntry[] {
  return snapshotTree(hostTreeReader(OPAQUE_XATTR, dir), dir, { xattrs: [OPAQUE_XATTR] });
}
