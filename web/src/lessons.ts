// The guided lessons: each step pairs a guest script (real Linux in v86) with the kernel model's
// answer to the same question, and says how to show the answer.
import * as guest from './guest-scripts.ts';
import * as model from './model-lessons.ts';
import * as docker from './docker-scripts.ts';
import * as modelDocker from './model-docker.ts';
import { runtimePrelude } from './guest-runtime.ts';
import { buildPlanText, buildScript, DEMO_DOCKERFILE } from './dockerfile-build.ts';

/**
 * How a step's output is shown: as text, or as one of the pictures (layer stack, namespace table,
 * namespace graph, host-vs-container mount tables, animated copy-up).
 */
export type Display = 'text' | 'layers' | 'namespaces' | 'nsgraph' | 'mountdiff' | 'copyup';

export interface Step {
  id: string;
  title: string;
  /** What to look for, in one or two sentences. */
  explain: string;
  /** What the user edits: the sh script the guest runs, or (with `compile`) a Dockerfile. */
  script: string;
  /** What the editable text is, for its label. */
  source?: 'script' | 'Dockerfile';
  /** Turns the edited text into the guest's script (throws, naming the line, on what it cannot run). */
  compile?: (source: string) => string;
  /** Needs container c1 (started first, once; the start is idempotent). */
  container: boolean;
  /** Needs the small container runtime's shell functions (guest-runtime.ts). */
  runtime?: boolean;
  /** The kernel model's answer; absent where it has none (it has no shell to run a command). */
  model?: (source: string) => string;
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
      {
        id: 'copyup',
        title: 'Watch a copy-up happen',
        explain:
          'Before the write, t1.txt is only in A. Appending to C/t1.txt copies it up: it appears in upper, which the ' +
          'merged view reads from then on; rm C/t3.txt leaves a whiteout in upper.',
        script: docker.COPY_UP,
        container: false,
        model: modelDocker.copyUpModel,
        display: 'copyup',
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
    id: 'chroot',
    title: 'chroot into a hand-made rootfs',
    seed: 'experiments 3 and 4',
    summary:
      'chroot(2) changes the root directory of one process: a directory with a shell in it is enough to ' +
      'run in. An unpacked image is such a directory (a rootfs): the files of an OS, not its kernel. chroot ' +
      "isolates nothing else: the process keeps the host's mounts, hostname, PIDs and network.",
    steps: [
      {
        id: 'handmade',
        title: 'A rootfs by hand: bin/ and a static busybox',
        explain:
          "Inside, ls / lists only bin: the directory is the whole filesystem the shell can name. The guest's " +
          'busybox is statically linked, so no lib/ is needed (the write-ups copy what ldd names for bash and ls).',
        script: guest.CHROOT_HANDMADE,
        container: false,
        model: model.chrootHandmade,
        display: 'text',
      },
      {
        id: 'image',
        title: "An image's layer as the root: same kernel, same namespaces",
        explain:
          "chroot into the demo image's base layer (an unpacked busybox image): its own os-release and " +
          "directories, but uname -r is the guest's kernel, and every namespace of the chrooted process is the host's.",
        script: guest.CHROOT_IMAGE,
        container: true,
        model: model.chrootImage,
        display: 'text',
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
  {
    id: 'build',
    title: 'Dockerfile build, run, exec, commit',
    seed: 'experiments 9, 10 and 11',
    summary:
      'Each RUN of a Dockerfile runs in a container on the layers so far and keeps its changes as a new layer. ' +
      "docker run stacks the image's layers under a read-write layer; docker exec joins the namespaces of the " +
      "container's first process; docker commit turns the read-write layer into a new image's top layer.",
    steps: [
      {
        id: 'build',
        title: 'docker build -t demo-app (the Dockerfile is editable)',
        explain:
          'One new layer per RUN, holding only what that RUN changed (rm /etc/motd leaves a whiteout: D). ' +
          'ENV, WORKDIR and CMD only change the image config. The demo knows FROM strata-demo, RUN, ENV, WORKDIR, CMD.',
        script: DEMO_DOCKERFILE,
        source: 'Dockerfile',
        compile: buildScript,
        container: true,
        runtime: true,
        model: buildPlanText,
        display: 'text',
      },
      {
        id: 'run',
        title: 'docker run',
        explain:
          'The CMD runs in a new container from the built image; a second one keeps running as app. Its root is an ' +
          'overlay whose lowerdir starts with the two RUN layers (l/BLD...), and /etc/motd is gone.',
        script: docker.RUN,
        container: true,
        runtime: true,
        display: 'text',
      },
      {
        id: 'exec',
        title: "docker exec: namespaces of app's PID 1 and of the exec'd process",
        explain:
          'nsenter (setns, then fork and exec) puts the new process in every namespace of the container: its ' +
          "namespace nodes are the container's. cgroup is shared with the host (no cgroup namespace here).",
        script: docker.EXEC,
        container: true,
        runtime: true,
        model: modelDocker.execGraph,
        display: 'nsgraph',
      },
      {
        id: 'commit',
        title: 'docker commit',
        explain:
          "The read-write layer's changes (docker diff) become the top layer of demo-app:v2; a container of " +
          'demo-app:v2 sees the state file and no build-info.',
        script: docker.COMMIT,
        container: true,
        runtime: true,
        display: 'text',
      },
    ],
  },
  {
    id: 'volumes',
    title: 'Volumes: bind mounts into the container',
    seed: 'experiment 12',
    summary:
      "A volume is a bind mount made inside the container's mount namespace after its rootfs is ready and " +
      "before pivot_root: the container writes through it to the host's directory, the host's mount table never " +
      'shows it, and docker commit does not take its content.',
    steps: [
      {
        id: 'bind',
        title: '-v /srv/data:/data',
        explain:
          "The container sees the host's file, and its write is on the host after it is gone. Its mountinfo line " +
          "for /data names the source directory (/srv/data) as the mount's root; the host has no /data mount.",
        script: docker.VOLUME_BIND,
        container: true,
        runtime: true,
        display: 'text',
      },
      {
        id: 'named',
        title: 'A named volume, and commit',
        explain:
          "The volume's directory lives under /var/lib/strata/volumes; a file touched in /test is there. The " +
          'committed layer holds only the empty mount point.',
        script: docker.VOLUME_NAMED,
        container: true,
        runtime: true,
        display: 'text',
      },
      {
        id: 'mounts',
        title: "The host's mount table next to the container's",
        explain:
          "/ is another mount (the overlay), /test exists only in the container, and the host's own mounts " +
          '(the overlay on merged/, /mnt/host, /run) are not in the container at all.',
        script: docker.VOLUME_MOUNTS,
        container: true,
        runtime: true,
        model: modelDocker.volumeMounts,
        display: 'mountdiff',
      },
    ],
  },
  {
    id: 'net-container',
    title: '--net container: one network namespace, two containers',
    seed: 'experiment 10',
    summary:
      "--net container:web starts a container in web's network namespace (setns on /proc/PID/ns/net) and new " +
      'namespaces for the rest: the two share interfaces and loopback, but not hostname, processes or files.',
    steps: [
      {
        id: 'join',
        title: 'The namespace graph of web and side',
        explain: 'One net node with two edges (web and side); every other namespace of side is its own.',
        script: docker.NET_JOIN,
        container: true,
        runtime: true,
        model: modelDocker.netGraph,
        display: 'nsgraph',
      },
      {
        id: 'talk',
        title: "side reaches web's server on 127.0.0.1",
        explain:
          "web's httpd listens on 127.0.0.1:8080 in their shared namespace: side gets the page; the host, in " +
          'another network namespace, cannot connect.',
        script: docker.NET_TALK,
        container: true,
        runtime: true,
        display: 'text',
      },
    ],
  },
];

/**
 * The full script the guest runs for a step: c1's start first when the step needs it, the runtime's
 * functions, then the step's script (compiled from the edited text when it is a Dockerfile).
 */
export function guestScript(
  step: Pick<Step, 'container'> & Partial<Pick<Step, 'runtime' | 'compile'>>,
  script: string,
): string {
  const body = step.compile ? step.compile(script) : script;
  return [step.container ? guest.ensureContainerScript() : '', step.runtime ? runtimePrelude() : '', body]
    .filter((s) => s !== '')
    .join('\n');
}
