// Per-container cgroups on cgroup v1 (one hierarchy per controller, this machine kind) or v2
// (one unified tree, most current distributions), detected at run time.
import fs from 'node:fs';
import path from 'node:path';
import type { CgroupLimits } from '../../shared/src/spec.js';
import { cgroupV1Writes, cgroupV2Writes, type CgroupWrite } from '../../shared/src/cgroup-limits.js';
import { sleepSync } from '../../shared/src/store/fsutil.js';
import { StrataError } from '../../shared/src/errors.js';
import { isRootless } from './rootless.js';

const CGROUP_ROOT = '/sys/fs/cgroup';
// The controllers Strata sets limits with (or will: devices, freezer). Each extra hierarchy costs a
// mkdir and an rmdir per container (about 4 ms each here), so the others are left alone.
const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'devices', 'freezer'];

export type CgroupVersion = 1 | 2;

// Looked up once per process: the host's cgroup mounts are set at its boot, and a run asked
// several times (~0.1 ms of existsSync each time in the warm daemon).
let version: CgroupVersion | null = null;
let joined: string[] | null = null;

export function cgroupVersion(): CgroupVersion {
  version ??= fs.existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers')) ? 2 : 1;
  return version;
}

/** The hierarchies a container joins: one dir per v1 controller, or the v2 root. */
export function hierarchies(): string[] {
  joined ??=
    cgroupVersion() === 2
      ? [CGROUP_ROOT]
      : V1_CONTROLLERS.map((c) => path.join(CGROUP_ROOT, c)).filter((d) =>
          fs.existsSync(path.join(d, 'cgroup.procs')),
        );
  return joined;
}

export function cgroupDirs(relPath: string): string[] {
  if (isRootless()) return [];
  return hierarchies().map((h) => path.join(h, relPath));
}

function writeIfPresent(file: string, value: string): void {
  if (fs.existsSync(file)) fs.writeFileSync(file, value);
}

/** cpuset needs cpus and mems filled in before a task may join: copy them down from the parent. */
function inheritCpuset(dir: string): void {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const file = path.join(dir, f);
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim() === '') {
      fs.writeFileSync(file, fs.readFileSync(path.join(path.dirname(dir), f), 'utf8'));
    }
  }
}

/** Executes the core's mapping (shared/src/cgroup-limits.ts) in one v1 hierarchy or the v2 dir. */
function applyWrites(dir: string, writes: CgroupWrite[]): void {
  for (const w of writes) {
    const file = path.join(dir, w.file);
    if (w.optional) writeIfPresent(file, w.value);
    else fs.writeFileSync(file, w.value);
  }
}

function enableV2Controllers(dir: string): void {
  // Each level must delegate the controllers to the next one down.
  const rel = path.relative(CGROUP_ROOT, dir).split(path.sep);
  let cur = CGROUP_ROOT;
  for (const part of rel) {
    const available = fs.readFileSync(path.join(cur, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
    const want = ['memory', 'pids', 'cpu'].filter((c) => available.includes(c));
    if (want.length > 0) {
      try {
        fs.writeFileSync(path.join(cur, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
      } catch {
        /* not allowed here (processes in an inner node): limits then fail with a clear error below */
      }
    }
    cur = path.join(cur, part);
  }
}

export interface ContainerCgroups {
  dirs: string[];
  /**
   * Opened for writing, one per hierarchy, for the shim: v1's `tasks` files, to which the joining
   * process writes "0" and moves itself (`joinSelf`), or v2's cgroup.procs, to which the shim
   * writes the payload's PID.
   */
  joinFds: number[];
  /**
   * v1: a process that moves itself, single-threaded, takes no global lock in the kernel. Moving
   * another process takes cgroup_threadgroup_rwsem for writing, and its first writer after a quiet
   * spell waits a whole RCU grace period (6-15 ms here; cgroup-warm.ts shortens it on v2).
   */
  joinSelf: boolean;
  /** The memory cgroup's file with the oom_kill counter, opened for the shim (OOMKilled). */
  oomFd: number | null;
}

export function createCgroups(relPath: string, limits: CgroupLimits): ContainerCgroups {
  return openCgroups(makeCgroups(relPath, limits));
}

/** The files the shim needs of cgroups made already (makeCgroups). */
export function openCgroups(dirs: string[]): ContainerCgroups {
  const version = cgroupVersion();
  const file = version === 1 ? 'tasks' : 'cgroup.procs';
  const joinFds = dirs.map((dir) => fs.openSync(path.join(dir, file), 'w'));
  return {
    dirs,
    joinFds,
    joinSelf: version === 1,
    oomFd: dirs.length > 0 ? openOomCounter(dirs, version) : null,
  };
}

/** Whether joining a cgroup waits for the kernel's global lock (cgroup v2), so worth warming (cgroup-warm.ts). */
export const cgroupMovesWait = (): boolean => cgroupVersion() === 2;

/** The container's cgroup directories with its limits written (again, harmlessly, when they exist). */
export function makeCgroups(relPath: string, limits: CgroupLimits): string[] {
  if (isRootless()) {
    // cgroup v1 is never delegated to unprivileged users; v2 delegation is not wired up yet.
    if (Object.keys(limits).length > 0)
      throw new StrataError(
        'resource limits (--memory, --pids-limit, --cpus, ...) need root: rootless mode has no delegated cgroups here',
      );
    return [];
  }
  const version = cgroupVersion();
  const dirs: string[] = [];
  for (const hier of hierarchies()) {
    const dir = path.join(hier, relPath);
    fs.mkdirSync(dir, { recursive: true });
    dirs.push(dir);
    if (version === 1) {
      if (path.basename(hier) === 'cpuset') {
        inheritCpuset(path.dirname(dir));
        inheritCpuset(dir);
      }
      const ctrl = path.basename(hier);
      applyWrites(
        dir,
        cgroupV1Writes(limits).filter((w) => w.controller === ctrl),
      );
    } else {
      enableV2Controllers(dir);
      applyWrites(dir, cgroupV2Writes(limits));
    }
  }
  return dirs;
}

/** memory.oom_control (v1) or memory.events (v2): both carry an "oom_kill N" line. */
function openOomCounter(dirs: string[], version: CgroupVersion): number | null {
  const memory = path.join(CGROUP_ROOT, 'memory') + path.sep;
  const file =
    version === 2
      ? path.join(dirs[0] ?? CGROUP_ROOT, 'memory.events')
      : path.join(dirs.find((d) => d.startsWith(memory)) ?? '', 'memory.oom_control');
  try {
    return fs.openSync(file, 'r');
  } catch {
    return null; // no memory controller here: OOMKilled stays false
  }
}

/** The cgroups of `relPath` removed where no process is in them (ENOENT, EBUSY: left as they are). */
export function removeIdleCgroups(relPath: string): void {
  for (const dir of cgroupDirs(relPath)) {
    try {
      fs.rmdirSync(dir);
    } catch {
      /* gone, or in use: a container's, not ours to empty */
    }
  }
}

/** Kill what is left and remove the container's cgroups (idempotent). */
export function removeCgroups(relPath: string): void {
  for (const dir of cgroupDirs(relPath)) {
    if (!fs.existsSync(dir)) continue;
    for (let tries = 0; ; tries++) {
      try {
        fs.rmdirSync(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || tries > 200) throw e;
        for (const pid of fs
          .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
          .split('\n')
          .filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
        sleepSync(5);
      }
    }
  }
}

export function cgroupPids(relPath: string): number[] {
  const dir = cgroupDirs(relPath)[0];
  if (!dir || !fs.existsSync(dir)) return [];
  return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
}
