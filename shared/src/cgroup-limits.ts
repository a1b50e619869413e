// Docker's resource flags as cgroup file writes, for cgroup v1 and v2: one pure mapping that the
// native backend (host /sys/fs/cgroup) and the emu backend (guest shell lines) both execute. The
// conversions are runc's (libcontainer/cgroups/fs and fs2, utils.ConvertCPUSharesToCgroupV2Value,
// ConvertMemorySwapToCgroupV2Value), so a limit lands in the same file with the same value as Docker.
import type { CgroupLimits } from './spec.js';

export interface CgroupWrite {
  /** v1: the controller's hierarchy (memory, pids, cpu); v2: the controller the file belongs to. */
  controller: 'memory' | 'pids' | 'cpu';
  file: string;
  value: string;
  /** The file may be absent (swap accounting off, no swap): skip it rather than fail. */
  optional?: boolean;
}

/** Default CFS period when only a quota is given (Docker's --cpus). */
export const CPU_PERIOD_DEFAULT = 100000;

/** cpu.shares (2..262144, v1) to cpu.weight (1..10000, v2): runc's linear conversion. */
export function cpuSharesToWeight(shares: number): number {
  const weight = 1 + Math.floor(((shares - 2) * 9999) / 262142);
  return Math.min(10000, Math.max(1, weight));
}

/** Docker's --memory-swap is memory+swap (-1 unlimited); v2's memory.swap.max is the swap alone. */
export function swapToV2(memorySwapBytes: number, memoryBytes: number): string {
  return memorySwapBytes < 0 ? 'max' : String(Math.max(0, memorySwapBytes - memoryBytes));
}

const pidsValue = (n: number): string => (n > 0 ? String(n) : 'max');

/** The v1 writes, in an order the kernel accepts (memsw after the memory limit, period before quota). */
export function cgroupV1Writes(l: CgroupLimits): CgroupWrite[] {
  const out: CgroupWrite[] = [];
  if (l.memoryBytes !== undefined)
    out.push({ controller: 'memory', file: 'memory.limit_in_bytes', value: String(l.memoryBytes) });
  if (l.memorySwapBytes !== undefined)
    out.push({
      controller: 'memory',
      file: 'memory.memsw.limit_in_bytes',
      value: String(l.memorySwapBytes < 0 ? -1 : l.memorySwapBytes),
      optional: true,
    });
  if (l.pidsLimit !== undefined)
    out.push({ controller: 'pids', file: 'pids.max', value: pidsValue(l.pidsLimit) });
  if (l.cpuShares !== undefined)
    out.push({ controller: 'cpu', file: 'cpu.shares', value: String(l.cpuShares) });
  if (l.cpuQuotaMicros !== undefined) {
    out.push({
      controller: 'cpu',
      file: 'cpu.cfs_period_us',
      value: String(l.cpuPeriodMicros ?? CPU_PERIOD_DEFAULT),
    });
    out.push({ controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(l.cpuQuotaMicros) });
  }
  return out;
}

/** The v2 writes (one unified directory). */
export function cgroupV2Writes(l: CgroupLimits): CgroupWrite[] {
  const out: CgroupWrite[] = [];
  if (l.pidsLimit !== undefined)
    out.push({ controller: 'pids', file: 'pids.max', value: pidsValue(l.pidsLimit) });
  if (l.memoryBytes !== undefined) {
    out.push({ controller: 'memory', file: 'memory.max', value: String(l.memoryBytes) });
    if (l.memorySwapBytes !== undefined)
      out.push({
        controller: 'memory',
        file: 'memory.swap.max',
        value: swapToV2(l.memorySwapBytes, l.memoryBytes),
        optional: true,
      });
  }
  if (l.cpuQuotaMicros !== undefined)
    out.push({
      controller: 'cpu',
      file: 'cpu.max',
      value: `${l.cpuQuotaMicros} ${l.cpuPeriodMicros ?? CPU_PERIOD_DEFAULT}`,
    });
  if (l.cpuShares !== undefined)
    out.push({ controller: 'cpu', file: 'cpu.weight', value: String(cpuSharesToWeight(l.cpuShares)) });
  return out;
}
