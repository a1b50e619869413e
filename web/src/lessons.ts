// The guided lessons: each step pairs a guest script (real Linux in v86) with the kernel model's
// answer to the same question, and says how to show the answer.
import * as guest from './guest-scripts.ts';
import * as model from './model-lessons.ts';

/** How a step's output is shown: as text, as the layer-stack picture, or as the namespace table. */
export type Display = 'text' | 'layers' | 'namespaces';

export interface Step {
  id: string;
  title: string;
  /** What to look for, in one or two sentences. */
  explain: string;
  /** The sh script the guest runs (shown, editable). */
  script: string;
  /** Needs container c1 (started first, once; the start is idempotent). */
  container: boolean;
  model: () => string;
  display: Display;
}

export interface Lesson {
  id: string;
  title: string;
  /** Which seed experiments it reproduces. */
  seed: string;
  summary: string;
  steps: Step[];
}

export const LESSONS: Lesson[] = [
  {
    id: 'mount-ns',
    title: 'A mount namespace and a private /tmp',
    seed: 'experiments 1 and 2',
    summary:
      'unshare -m gives a process its own copy of the mount table. The copy changes nothing by itself; a ' +
      'mount made afterwards (a tmpfs on /tmp) is seen only inside, once / is no longer shared.',
    steps: [
      {
        id: 'inherit',
        title: 'A new mount namespace inherits every mount',
        explain:
          'The namespace inode differs, yet /tmp inside shows the host file: the child got a copy of every mount.',
        script: guest.NS_INHERIT,
        container: false,
        model: model.nsInherit,
        display: 'text',
      },
      {
        id: 'tmpfs',
        title: 'Mount a tmpfs on /tmp inside',
        explain:
          'After mount --make-rprivate / and mount -t tmpfs none /tmp inside, /tmp is empty there and mount lists ' +
          '"none on /tmp type tmpfs"; the host has no such line and still sees its file.',
        script: guest.NS_TMPFS,
        container: false,
        model: model.nsTmpfs,
        display: 'text',
      },
    ],
  },
  {
    id: 'union',
    title: 'Union mount: A, B and C',
    seed: 'experiment 6',
    summary:
      'overlayfs stacks directories: C shows the union of A and B, and where both have a name the leftmost ' +
      '(A) wins. With an upper directory the union becomes writable: changes land there, deletes leave whiteouts.',
    steps: [
      {
        id: 'readonly',
        title: 'lowerdir=A:B on C',
        explain:
          "ls C lists t1 t2 t3; C/t2.txt is A's; editing B/t2.txt changes nothing in C, editing B/t3.txt does.",
        script: guest.UNION_READONLY,
        container: false,
        model: model.unionReadonly,
        display: 'text',
      },
      {
        id: 'writable',
        title: 'Add an upper layer: copy-up and whiteouts',
        explain:
          'The write to t1.txt is copied up (A keeps A1); deleting t3.txt leaves a 0/0 character device in upper.',
        script: guest.UNION_WRITABLE,
        container: false,
        model: model.unionWritable,
        display: 'text',
      },
    ],
  },
  {
    id: 'layers',
    title: "An image's layers and a container's layers",
    seed: 'experiments 7 and 8',
    summary:
      'The demo image has three layers; container c1 adds an init layer (hostname, hosts, resolv.conf, dev) ' +
      "and a read-write layer, all in Docker's overlay2 layout, mounted as one overlay.",
    steps: [
      {
        id: 'on-disk',
        title: 'overlay2 on disk',
        explain:
          "One directory per layer, short l/ links to each diff, and the container's lower file listing its chain.",
        script: guest.LAYERS_ON_DISK,
        container: true,
        model: model.layersOnDisk,
        display: 'text',
      },
      {
        id: 'mount',
        title: 'lowerdir, upperdir, workdir, merged',
        explain:
          "GraphDriver as docker inspect shows it, the overlay line in the host's /proc/mounts, and c1's root.",
        script: guest.LAYERS_MOUNT,
        container: true,
        model: model.layersMount,
        display: 'text',
      },
      {
        id: 'stack',
        title: 'The layer stack',
        explain:
          'Each visible file comes from the highest layer that has it; lower copies are shadowed, and a whiteout ' +
          '(etc/issue, deleted by the third layer) hides the name from everything below.',
        script: guest.LAYERS_STACK,
        container: true,
        model: model.layersStack,
        display: 'layers',
      },
      {
        id: 'cow',
        title: 'Copy-on-write in c1',
        explain:
          'Inside c1: append to /etc/motd (copied up), rm /etc/os-release (a whiteout), create /root/new.txt. Only ' +
          'the read-write layer changes.',
        script: guest.LAYERS_COW,
        container: true,
        model: model.layersCow,
        display: 'layers',
      },
    ],
  },
  {
    id: 'pivot-root',
    title: 'pivot_root',
    seed: 'experiment 5',
    summary:
      'pivot_root moves the whole mount namespace onto a new root and puts the old one under put_old, from ' +
      'where it can be unmounted: unlike chroot, nothing of the host stays reachable.',
    steps: [
      {
        id: 'rules',
        title: 'The rules',
        explain:
          'new_root must be a mount point that is not on the current root mount, nothing involved may be shared, and put_old must be under new_root. Each broken rule is an error (here EBUSY twice: both paths are on the root mount).',
        script: guest.PIVOT_RULES,
        container: false,
        model: model.pivotRules,
        display: 'text',
      },
      {
        id: 'pivot',
        title: 'Pivot into a hand-made rootfs',
        explain:
          "After the pivot /etc/os-release is the rootfs's; the old mounts sit under /old-root until umount -l.",
        script: guest.PIVOT_DO,
        container: false,
        model: model.pivotDo,
        display: 'text',
      },
    ],
  },
  {
    id: 'exec',
    title: 'exec is setns: namespaces side by side',
    seed: 'experiment 10',
    summary:
      "docker exec joins the namespaces of the container's first process (setns, then fork and exec): the " +
      "namespace inodes of the exec'd process equal the container's and differ from the host's.",
    steps: [
      {
        id: 'inodes',
        title: 'Namespace inodes: host, c1, exec',
        explain:
          "cgroup is shared (c1 was not given its own); every other namespace of the exec equals c1's.",
        script: guest.NS_SIDE_BY_SIDE,
        container: true,
        model: model.nsSideBySide,
        display: 'namespaces',
      },
      {
        id: 'view',
        title: "What the exec'd process sees",
        explain: "c1's hostname, c1's files, and c1's PID namespace: its first process is PID 1.",
        script: guest.EXEC_VIEW,
        container: true,
        model: model.execView,
        display: 'text',
      },
    ],
  },
];

/** The full script the guest runs for a step: the container start first when the step needs it. */
export function guestScript(step: Pick<Step, 'container'>, script: string): string {
  return step.container ? `${guest.startContainerScript()}\n${script}` : script;
}
