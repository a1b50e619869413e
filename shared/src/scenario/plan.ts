// Steps as system calls. Both runners execute this same list, so a scenario's meaning (which mount(2)
// flags a bind with readonly makes, how a layer is written) is decided once, here, and a disagreement
// between the model and the kernel is about the kernel, never about two translations.

import type { MountFlag } from '../mount/options.js';
import { parseMountOptions } from '../mount/options.js';
import type { NsKind } from '../model/index.js';
import { OPAQUE_XATTR } from '../model/index.js';
import type { LayerEntry, Scenario, Step } from './types.js';

export type Call =
  | { c: 'mount'; source: string; target: string; fstype: string | null; flags: MountFlag[]; data: string }
  | { c: 'umount'; target: string; detach: boolean }
  /** fork(); the child unshare(2)s and carries on, the parent waits (as unshare(1) with a command). */
  | { c: 'unshare'; ns: NsKind[] }
  | { c: 'pivot_root'; new_root: string; put_old: string }
  | { c: 'chroot'; path: string }
  | { c: 'chdir'; path: string }
  /** open(O_WRONLY|O_CREAT|O_TRUNC or O_APPEND, 0644) and write(2). */
  | { c: 'write'; path: string; content: string; append: boolean; mode: number }
  | { c: 'unlink'; path: string }
  | { c: 'rename'; from: string; to: string }
  | { c: 'mkdir'; path: string; mode: number }
  /** mkdir -p with mode 0755 (layer parents). */
  | { c: 'mkdirp'; path: string }
  | { c: 'rmdir'; path: string }
  | { c: 'chmod'; path: string; mode: number }
  | { c: 'symlink'; target: string; path: string }
  /** A character device 0/0, mode 0: an overlayfs whiteout. */
  | { c: 'whiteout'; path: string }
  | { c: 'setxattr'; path: string; name: string; value: string };

const PROPAGATION_FLAG = {
  'make-private': 'MS_PRIVATE',
  'make-shared': 'MS_SHARED',
  'make-slave': 'MS_SLAVE',
  'make-unbindable': 'MS_UNBINDABLE',
  private: 'MS_PRIVATE',
  shared: 'MS_SHARED',
  slave: 'MS_SLAVE',
} as const;

/** The calls of one step; the step's outcome is the first call that fails. */
export function stepCalls(s: Step): Call[] {
  switch (s.op) {
    case 'unshare': {
      const calls: Call[] = [{ c: 'unshare', ns: s.ns }];
      // unshare(1) makes / recursively private in the new namespace unless told otherwise, so that its
      // mounts do not propagate back to the host.
      if (s.ns.includes('mnt') && s.propagation !== 'unchanged')
        calls.push(propagate('/', PROPAGATION_FLAG[s.propagation], true));
      return calls;
    }
    case 'mount': {
      const { flags, data, propagation } = parseMountOptions(s.options);
      return [
        { c: 'mount', source: s.source, target: s.target, fstype: s.type, flags, data },
        ...propagation.map((f): Call => ({
          c: 'mount',
          source: 'none',
          target: s.target,
          fstype: null,
          flags: f,
          data: '',
        })),
      ];
    }
    case 'bind': {
      const flags: MountFlag[] = s.recursive ? ['MS_BIND', 'MS_REC'] : ['MS_BIND'];
      const calls: Call[] = [
        { c: 'mount', source: s.source, target: s.target, fstype: null, flags, data: '' },
      ];
      // The kernel ignores MS_RDONLY when binding; mount(8) -o bind,ro remounts afterwards.
      if (s.readonly)
        calls.push({
          c: 'mount',
          source: 'none',
          target: s.target,
          fstype: null,
          flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY'],
          data: '',
        });
      return calls;
    }
    case 'make-private':
    case 'make-shared':
    case 'make-slave':
    case 'make-unbindable':
      return [propagate(s.target, PROPAGATION_FLAG[s.op], s.recursive)];
    case 'move':
      return [{ c: 'mount', source: s.source, target: s.target, fstype: null, flags: ['MS_MOVE'], data: '' }];
    case 'umount':
      return [{ c: 'umount', target: s.target, detach: s.detach }];
    case 'overlay': {
      const data = [`lowerdir=${s.lower.join(':')}`];
      if (s.upper !== null) data.push(`upperdir=${s.upper}`);
      if (s.work !== null) data.push(`workdir=${s.work}`);
      return [
        {
          c: 'mount',
          source: 'overlay',
          target: s.target,
          fstype: 'overlay',
          flags: [],
          data: data.join(','),
        },
      ];
    }
    case 'pivot_root':
      return [{ c: 'pivot_root', new_root: s.new_root, put_old: s.put_old }];
    case 'chroot':
      return [{ c: 'chroot', path: s.path }];
    case 'chdir':
      return [{ c: 'chdir', path: s.path }];
    case 'write':
      return [{ c: 'write', path: s.path, content: s.content, append: s.append, mode: 0o644 }];
    case 'delete':
      return [{ c: 'unlink', path: s.path }];
    case 'rename':
      return [{ c: 'rename', from: s.from, to: s.to }];
    case 'mkdir':
      return [{ c: 'mkdir', path: s.path, mode: s.mode }];
    case 'rmdir':
      return [{ c: 'rmdir', path: s.path }];
    case 'chmod':
      return [{ c: 'chmod', path: s.path, mode: s.mode }];
    case 'symlink':
      return [{ c: 'symlink', target: s.target, path: s.path }];
  }
}

function propagate(target: string, flag: MountFlag, recursive: boolean): Call {
  return {
    c: 'mount',
    source: 'none',
    target,
    fstype: null,
    flags: recursive ? [flag, 'MS_REC'] : [flag],
    data: '',
  };
}

/** Where the world is made: a tmpfs on this directory becomes the scenario's root. */
export const WORLD_SOURCE = 'scenario';

/** The calls that write the layers (inside the world, before step 0). Parents come before children. */
export function layerCalls(layers: Scenario['layers']): Call[] {
  const calls: Call[] = [];
  for (const [dir, entries] of Object.entries(layers)) {
    calls.push({ c: 'mkdirp', path: dir });
    const paths = Object.keys(entries).sort();
    for (const p of paths) {
      const full = (dir === '/' ? '' : dir) + '/' + p.replace(/^\/+|\/+$/g, '');
      const parent = full.slice(0, full.lastIndexOf('/')) || '/';
      calls.push({ c: 'mkdirp', path: parent });
      calls.push(...entryCalls(full, entries[p] as LayerEntry));
    }
  }
  return calls;
}

function entryCalls(path: string, e: LayerEntry): Call[] {
  if (typeof e === 'string') return [{ c: 'write', path, content: e, append: false, mode: 0o644 }];
  switch (e.type) {
    case 'file':
      return [{ c: 'write', path, content: e.content, append: false, mode: e.mode ?? 0o644 }];
    case 'dir': {
      // mkdir -p then chmod: a directory may already exist as the parent of an earlier entry.
      const calls: Call[] = [
        { c: 'mkdirp', path },
        { c: 'chmod', path, mode: e.mode ?? 0o755 },
      ];
      if (e.opaque) calls.push({ c: 'setxattr', path, name: OPAQUE_XATTR, value: 'y' });
      return calls;
    }
    case 'symlink':
      return [{ c: 'symlink', target: e.target, path }];
    case 'whiteout':
      return [{ c: 'whiteout', path }];
  }
}
