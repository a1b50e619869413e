import { describe, expect, it } from 'vitest';
import { MS_FLAG_VALUES, mountFlagsValue, parseMountOptions } from '../../shared/src/mount/options.js';

describe('parseMountOptions (runc-style)', () => {
  it('splits flags, data and propagation', () => {
    expect(parseMountOptions(['nosuid', 'strictatime', 'mode=755', 'size=65536k'])).toEqual({
      flags: ['MS_NOSUID', 'MS_STRICTATIME'],
      data: 'mode=755,size=65536k',
      propagation: [],
    });
    expect(parseMountOptions(['rbind', 'ro', 'rslave', 'private'])).toEqual({
      flags: ['MS_RDONLY', 'MS_BIND', 'MS_REC'],
      data: '',
      propagation: [['MS_SLAVE', 'MS_REC'], ['MS_PRIVATE']],
    });
  });

  it('later options clear earlier ones (ro then rw)', () => {
    expect(parseMountOptions(['ro', 'nodev', 'rw', 'dev', 'defaults']).flags).toEqual([]);
  });

  it('has the <linux/mount.h> values', () => {
    expect(MS_FLAG_VALUES.MS_BIND).toBe(0x1000);
    expect(MS_FLAG_VALUES.MS_PRIVATE).toBe(0x40000);
    expect(mountFlagsValue(['MS_BIND', 'MS_REC'])).toBe(0x5000);
    expect(mountFlagsValue(['MS_SHARED', 'MS_REC'])).toBe(0x104000);
    expect(mountFlagsValue(['MS_LAZYTIME'])).toBe(0x2000000);
  });
});
