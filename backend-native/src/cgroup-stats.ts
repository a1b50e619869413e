// Usage counters of a container's cgroups (docker stats), on cgroup v1 or v2.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cgroupVersion } from './cgroups.js';

const CGROUP_ROOT = '/sys/fs/cgroup';

export interface CgroupStats {
  /** Total CPU time used by the container's tasks, nanoseconds. */
  cpuNanos: number;
  /** Memory in use, page cache that can be dropped excluded (Docker's "usage - inactive_file"). */
  memoryBytes: number;
  /** The memory limit, or the host's memory when unlimited (what Docker shows). */
  memoryLimitBytes: number;
  pids: number;
}

function read(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function num(file: string): number {
  const text = read(file);
  const n = text === null ? NaN : Number(text);
  return Number.isFinite(n) ? n : 0;
}

/** One value of a "key value" file (memory.stat, cpu.stat). */
function keyed(file: string, key: string): number {
  for (const line of (read(file) ?? '').split('\n')) {
    const [k, v] = line.split(' ');
    if (k === key) return Number(v);
  }
  return 0;
}

/** An unlimited v1 limit reads as a huge page-aligned number; show the host's memory instead. */
function limitOrHost(limit: number): number {
  const total = os.totalmem();
  return limit > 0 && limit < total ? limit : total;
}

/** null when the container has no cgroup (not running, or removed). */
export function readCgroupStats(relPath: string): CgroupStats | null {
  if (cgroupVersion() === 2) {
    const dir = path.join(CGROUP_ROOT, relPath);
    if (!fs.existsSync(dir)) return null;
    const max = read(path.join(dir, 'memory.max'));
    return {
      cpuNanos: keyed(path.join(dir, 'cpu.stat'), 'usage_usec') * 1000,
      memoryBytes: Math.max(
        0,
        num(path.join(dir, 'memory.current')) - keyed(path.join(dir, 'memory.stat'), 'inactive_file'),
      ),
      memoryLimitBytes: limitOrHost(max === null || max === 'max' ? 0 : Number(max)),
      pids: num(path.join(dir, 'pids.current')),
    };
  }
  const mem = path.join(CGROUP_ROOT, 'memory', relPath);
  if (!fs.existsSync(mem)) return null;
  return {
    cpuNanos: num(path.join(CGROUP_ROOT, 'cpuacct', relPath, 'cpuacct.usage')),
    memoryBytes: Math.max(
      0,
      num(path.join(mem, 'memory.usage_in_bytes')) -
        keyed(path.join(mem, 'memory.stat'), 'total_inactive_file'),
    ),
    memoryLimitBytes: limitOrHost(num(path.join(mem, 'memory.limit_in_bytes'))),
    pids: num(path.join(CGROUP_ROOT, 'pids', relPath, 'pids.current')),
  };
}
