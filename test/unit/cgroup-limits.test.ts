// The one mapping of Docker's resource flags to cgroup files (both backends execute it): runc's
// values for v1 and v2.
import { describe, expect, it } from 'vitest';
import { cgroupV1Writes, cgroupV2Writes, cpuSharesToWeight } from '../../shared/src/cgroup-limits.ts';

const MiB = 1024 * 1024;
const all = {
  memoryBytes: 64 * MiB,
  memorySwapBytes: 128 * MiB,
  pidsLimit: 20,
  cpuQuotaMicros: 50000,
  cpuPeriodMicros: 100000,
  cpuShares: 512,
};
const flat = (ws: { file: string; value: string; optional?: boolean }[]) =>
  ws.map((w) => `${w.file}=${w.value}${w.optional ? '?' : ''}`);

describe('cgroup limits mapping', () => {
  it('v1: one file per controller hierarchy, memsw after the limit, period before quota', () => {
    expect(cgroupV1Writes(all).map((w) => `${w.controller}/${w.file}=${w.value}`)).toEqual([
      `memory/memory.limit_in_bytes=${64 * MiB}`,
      `memory/memory.memsw.limit_in_bytes=${128 * MiB}`,
      'pids/pids.max=20',
      'cpu/cpu.shares=512',
      'cpu/cpu.cfs_period_us=100000',
      'cpu/cpu.cfs_quota_us=50000',
    ]);
  });

  it('v2: memory.swap.max is the swap alone, cpu.max is "quota period", shares become a weight', () => {
    expect(flat(cgroupV2Writes(all))).toEqual([
      'pids.max=20',
      `memory.max=${64 * MiB}`,
      `memory.swap.max=${64 * MiB}?`,
      'cpu.max=50000 100000',
      'cpu.weight=20',
    ]);
    expect(flat(cgroupV2Writes({ memoryBytes: 32 * MiB, memorySwapBytes: -1, pidsLimit: -1 }))).toEqual([
      'pids.max=max',
      `memory.max=${32 * MiB}`,
      'memory.swap.max=max?',
    ]);
    expect(cgroupV2Writes({})).toEqual([]);
  });

  it('cpu.shares to cpu.weight as runc: 2 -> 1, 1024 (the default) -> 39, 262144 -> 10000', () => {
    expect([2, 1024, 262144, 1_000_000].map(cpuSharesToWeight)).toEqual([1, 39, 10000, 10000]);
  });
});
