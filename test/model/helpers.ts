// Shared helpers for the kernel-model tests.
import type { MountInfo } from '../../shared/src/mount/mountinfo.js';
import { mountinfoToMounts } from '../../shared/src/mount/mountinfo.js';
import type { Process } from '../../shared/src/model/index.js';
import { ModelError } from '../../shared/src/model/index.js';

/** Mounts at or below `prefix`, as "mountpoint [shared:N] [master:N] [unbindable] fstype" lines. */
export function mountsUnder(p: Process, prefix: string): string[] {
  return p
    .mountinfo()
    .filter((e) => e.mountPoint === prefix || e.mountPoint.startsWith(prefix + '/'))
    .map(describe);
}

export function describe(e: MountInfo): string {
  const tags: string[] = [];
  if (e.shared !== null) tags.push(`shared:${e.shared}`);
  if (e.master !== null) tags.push(`master:${e.master}`);
  if (e.propagateFrom !== null) tags.push(`propagate_from:${e.propagateFrom}`);
  if (e.unbindable) tags.push('unbindable');
  return [e.mountPoint, ...tags, e.fsType].join(' ');
}

/** What `mount -l` prints for one mountinfo entry: "none on /tmp type tmpfs (rw,relatime)". */
export function mountL(e: MountInfo): string {
  const m = mountinfoToMounts(e);
  return `${m.source} on ${m.mountPoint} type ${m.fsType} (${m.options.join(',')})`;
}

/** The errno of what `fn` throws (fails the test when it does not throw a ModelError). */
export function errnoOf(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ModelError) return err.code;
    throw err;
  }
  throw new Error('expected a ModelError, nothing was thrown');
}
