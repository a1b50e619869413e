// The lessons' shell scripts for the guest (busybox sh in real Linux under v86). Each prints what a
// user would type ("$ cmd") before its output, so the transcript reads like a terminal session.
import { shellQuote as q } from '../../backend-emu/src/protocol.ts';
import {
  CONTAINER,
  containerDirs,
  IMAGE_LAYERS,
  INIT_LAYER,
  OVERLAY2,
  overlayData,
  type LayerDef,
} from './layout.ts';

const PID_FILE = `/run/strata/${CONTAINER}.pid`;
/** A fifo: the start waits on it instead of polling (each poll's fork takes the one emulated CPU). */
const READY_FIFO = `/run/strata/${CONTAINER}.ready`;

/**
 * One layer's diff, link and lower files. Directories are returned apart so that the whole image is
 * made with one mkdir: every fork+exec costs 50 to 100 ms in the emulated CPU.
 */
function layerScript(l: LayerDef, lowers: LayerDef[]): { dirs: string[]; lines: string[] } {
  const d = `${OVERLAY2}/${l.id}`;
  const dirs = [`${d}/diff`, `${d}/work`, ...l.dirs.map((dir) => `${d}/diff/${dir}`)];
  const lines: string[] = [];
  for (const [path, content] of Object.entries(l.files)) {
    dirs.push(`${d}/diff/${path}`.replace(/\/[^/]*$/, ''));
    lines.push(`printf %s ${q(content)} > ${d}/diff/${path}`); // printf and echo are sh builtins
  }
  // Idempotent, as the rest: a start after c1 died finds the layers written.
  for (const w of l.whiteouts) lines.push(`[ -c ${d}/diff/${w} ] || mknod ${d}/diff/${w} c 0 0`);
  lines.push(`echo ${l.short} > ${d}/link`, `ln -sfn ../${l.id}/diff ${OVERLAY2}/l/${l.short}`);
  if (lowers.length > 0) lines.push(`echo ${lowers.map((x) => `l/${x.short}`).join(':')} > ${d}/lower`);
  return { dirs, lines };
}

/**
 * What the container's first process does inside its new namespaces (as runc's init): private
 * propagation, hostname, /proc and /dev, then pivot_root(".", ".") into the overlay and lazily
 * unmount the old root. fd 3 is the pid file on the host's /run, fd 4 the ready fifo, both opened
 * before the pivot (after it the host's /run is gone); "ok" on fd 4 means "container ready", and
 * fd 4 closing without it (init died) ends the start's wait too.
 */
function containerInit(): string {
  const m = containerDirs().merged;
  return [
    `exec 4>${READY_FIFO}`,
    'read hpid rest </proc/self/stat', // the host's /proc is still mounted: this is the host PID
    `exec 3>${PID_FILE}`,
    'mount --make-rprivate /',
    `echo ${CONTAINER} > /proc/sys/kernel/hostname`, // hostname(1) without its fork
    `mount -t proc proc ${m}/proc`,
    `mount -t tmpfs -o mode=755,size=64k tmpfs ${m}/dev`,
    `mknod -m 666 ${m}/dev/null c 1 3`,
    `mkdir -p ${m}/dev/pts ${m}/dev/shm`,
    `cd ${m}`,
    'pivot_root . .',
    'umount -l .',
    'cd /',
    'echo $hpid >&3',
    'exec 3>&-',
    'echo ok >&4',
    'exec 4>&-',
    'exec sleep 2147483647',
  ].join('\n');
}

/**
 * Builds the demo image's layers and starts container c1 (idempotent: a running c1 is left alone).
 * The overlay is mounted in the host's namespace, as Docker does, so the host's /proc/mounts has it.
 */
export function startContainerScript(): string {
  const c = containerDirs();
  const parts: Array<{ dirs: string[]; lines: string[] }> = [];
  const below: LayerDef[] = [];
  for (const l of IMAGE_LAYERS) {
    parts.push(layerScript(l, [...below].reverse()));
    below.push(l);
  }
  parts.push(layerScript(INIT_LAYER, [...below].reverse()));
  const dirs = [`${OVERLAY2}/l`, '/run/strata', c.upper, c.work, c.merged, ...parts.flatMap((p) => p.dirs)];
  const base = `${OVERLAY2}/${IMAGE_LAYERS[0]?.id ?? ''}/diff`;
  const chain = [INIT_LAYER, ...[...IMAGE_LAYERS].reverse()].map((x) => `l/${x.short}`).join(':');
  // The check is builtins only (no fork: c1 runs already in the web snapshot); the start is a
  // subshell, so that set -e ends it without ending the caller's script.
  return `if ! { [ -s ${PID_FILE} ] && read -r P < ${PID_FILE} && [ -d /proc/$P ]; }; then (
set -e
mkdir -p ${[...new Set(dirs)].join(' ')}
${parts.flatMap((p) => p.lines).join('\n')}
# The base layer's userland: the guest's static busybox and one link per applet.
# (a hard link: the same tmpfs, and no 2 MB copy through the emulated CPU)
ln -f /bin/busybox ${base}/bin/busybox
/bin/busybox --install -s ${base}/bin
echo ${chain} > ${c.upper.replace(/\/diff$/, '')}/lower
mount -t overlay overlay -o ${q(overlayData())} ${c.merged}
rm -f ${READY_FIFO}; mkfifo ${READY_FIFO}
setsid unshare -m -u -i -n -p -f sh -c ${q(containerInit())} </dev/null >/run/strata/${CONTAINER}.log 2>&1 &
if ! read -r ok < ${READY_FIFO} || [ "$ok" != ok ]; then
  echo 'container did not start:' >&2; cat /run/strata/${CONTAINER}.log >&2; exit 1
fi
)
fi`;
}

/** Where the web snapshot leaves startContainerScript() in the guest (images/guest/web-snapshot.mjs). */
export const START_FILE = `/run/strata/${CONTAINER}-start.sh`;

/**
 * What a request that needs c1 begins with: a check with builtins that c1 runs (it does in the web
 * snapshot), else its start from START_FILE. Short, so that it goes on the serial line: the full
 * start script would go through the 9p share, and busybox sh would parse its 3.5 KB each time, 0.3
 * to 0.8 s together in the emulated CPU.
 */
export function ensureContainerScript(): string {
  return `{ [ -s ${PID_FILE} ] && read -r P < ${PID_FILE} && [ -d /proc/$P ]; } || . ${START_FILE}`;
}

/** nsenter into c1 (its PID in $P): namespaces and root, as `docker exec` (setns + fork + exec). */
function nsenterC1(script: string): string {
  return `nsenter -t $P -m -u -i -n -p -r -w sh -c ${q(script)}`;
}

/** Runs `script` in container c1. */
export function inContainer(script: string): string {
  return `read -r P < ${PID_FILE}\n${nsenterC1(script)}`;
}

/** The web terminal's serial line: the web snapshot's second UART (images/guest/web-snapshot.mjs). */
export const TTY_DEVICE = 'ttyS1';
/** What busybox init runs on TTY_DEVICE (respawned when it ends), left there by the web snapshot. */
export const TTY_SHELL_FILE = `/run/strata/${CONTAINER}-tty.sh`;

/**
 * The web terminal's shell: an interactive busybox sh inside c1 (nsenter, as `docker exec -it`) on
 * its own serial line, a real tty (line editing, ^C, job control). The web snapshot holds it already
 * waiting in read(2), so a keystroke reaches c1 with no fork or exec; when it exits (`exit`, or c1
 * killed) init runs this again, which starts c1 again if it is gone.
 */
export function ttyShellScript(): string {
  return [
    `${ensureContainerScript()} >/dev/null 2>&1`,
    `read -r P < ${PID_FILE} || exec sleep 5`,
    "export HOME=/root TERM=xterm PS1='\\h:\\w# '",
    // Not exec'd: a failure (c1 gone between the check and nsenter) waits before init runs this
    // again, instead of init respawning it in a tight loop.
    `nsenter -t $P -m -u -i -n -p -r -w sh -i || sleep 2`,
  ].join('\n');
}

export const CONTAINER_MOUNTINFO = inContainer('cat /proc/self/mountinfo');

/**
 * c1's mount table for the live panel, in the guest's first request: /proc/<c1's PID>/mountinfo is
 * relative to that process's root and mount namespace (the same text c1's own /proc/self/mountinfo
 * gives), read with sh builtins: no nsenter, no cat, no fork in the emulated CPU.
 */
export const LIVE_MOUNTINFO = `${ensureContainerScript()} >/dev/null
read -r P < ${PID_FILE}
while IFS= read -r l; do echo "$l"; done < /proc/$P/mountinfo`;

// Lesson (a): mount namespaces. Seed experiments 1 and 2.
export const NS_INHERIT = `echo 'from the host' > /tmp/host-file
echo "$ readlink /proc/self/ns/mnt        (host)"; readlink /proc/self/ns/mnt
unshare -m sh -c '
echo "$ readlink /proc/self/ns/mnt        (inside unshare -m)"; readlink /proc/self/ns/mnt
echo "$ ls /tmp                           (inside)"; ls /tmp'`;

export const NS_TMPFS = `echo 'from the host' > /tmp/host-file
unshare -m sh -c '
mount --make-rprivate /
mount -t tmpfs none /tmp
echo "$ ls -A /tmp                 (inside)"; ls -A /tmp; echo "(empty)"
echo "$ mount | grep tmpfs         (inside)"; mount | grep " /tmp "'
echo "$ mount | grep /tmp          (host)"; mount | grep " /tmp " || echo "(no /tmp mount)"
echo "$ ls /tmp                    (host)"; ls /tmp`;

// Lesson (b): the union mount of seed experiment 6.
const UNION_PREP = `U=/tmp/u
umount $U/C 2>/dev/null || true
rm -rf $U; mkdir -p $U/A $U/B $U/C $U/upper $U/work; cd $U
echo A1 > A/t1.txt; echo A2 > A/t2.txt; echo B2 > B/t2.txt; echo B3 > B/t3.txt`;

export const UNION_READONLY = `${UNION_PREP}
echo "$ mount -t overlay overlay -o lowerdir=$U/A:$U/B $U/C"
mount -t overlay overlay -o lowerdir=$U/A:$U/B $U/C
echo "$ ls C"; ls C
echo "$ cat C/t2.txt"; cat C/t2.txt
echo "$ echo 'B2 edited' > B/t2.txt; cat C/t2.txt"; echo 'B2 edited' > B/t2.txt; cat C/t2.txt
echo "$ echo 'B3 edited' > B/t3.txt; cat C/t3.txt"; echo 'B3 edited' > B/t3.txt; cat C/t3.txt
echo "$ touch C/new"; touch C/new 2>&1 | sed 's/^touch: //' || true
umount C`;

export const UNION_WRITABLE = `${UNION_PREP}
echo "$ mount -t overlay overlay -o lowerdir=A:B,upperdir=upper,workdir=work C"
mount -t overlay overlay -o lowerdir=$U/A:$U/B,upperdir=$U/upper,workdir=$U/work $U/C
echo "$ echo changed > C/t1.txt; rm C/t3.txt"; echo changed > C/t1.txt; rm C/t3.txt
echo "$ ls C"; ls C
echo "$ cat A/t1.txt C/t1.txt"; cat A/t1.txt C/t1.txt
echo "$ ls -l upper   (t3.txt: a whiteout, character device 0, 0)"
ls -l upper
umount C`;

// Lesson (c): layers. The listing format "<layer>\\t<type>\\t<path>" is what the layer-stack picture
// reads (type: d, f, l or w for a whiteout). busybox's applet links in bin/ are left out: hundreds of
// lines, each a loop turn in the emulated CPU.
function listingScript(): string {
  const c = containerDirs();
  const layers = [...IMAGE_LAYERS, INIT_LAYER].map((l) => `${q(l.name)} ${OVERLAY2}/${l.id}/diff`);
  layers.push(`${q('c1 (read-write)')} ${c.upper}`);
  return `list() {
  printf '%s\\tL\\t\\n' "$1" # the layer itself, so that an empty one still gets its column
  ( cd "$2" && find . -mindepth 1 ! \\( -type l -path './bin/*' \\) | sort | while read -r f; do
    if [ -c "$f" ]; then t=w; elif [ -L "$f" ]; then t=l; elif [ -d "$f" ]; then t=d; else t=f; fi
    printf '%s\\t%s\\t%s\\n' "$1" "$t" "\${f#./}"
  done )
}
${layers.map((l) => `list ${l}`).join('\n')}`;
}

export const LAYERS_ON_DISK = `cd ${OVERLAY2}
echo "$ ls ${OVERLAY2}"; ls
echo "$ ls -l l/"; for f in l/*; do echo "$f -> $(readlink $f)"; done
echo "$ cat <c1's dir>/lower"; cat ${containerDirs().upper.replace(/\/diff$/, '')}/lower`;

export const LAYERS_MOUNT = `c=${containerDirs().upper.replace(/\/diff$/, '')}
echo "GraphDriver.Name: overlay2"
echo "LowerDir:  $(sed 's#l/#${OVERLAY2}/l/#g' $c/lower)"
echo "UpperDir:  $c/diff"
echo "WorkDir:   $c/work"
echo "MergedDir: $c/merged"
echo "$ grep $c/merged /proc/mounts      (host)"; grep " $c/merged " /proc/mounts
echo "$ head -1 /proc/self/mountinfo      (inside c1: its root)"
${inContainer('head -1 /proc/self/mountinfo')}`;

export const LAYERS_STACK = listingScript();

export const LAYERS_COW = `${inContainer("echo 'edited in c1' >> /etc/motd; rm -f /etc/os-release; echo hi > /root/new.txt")} >&2
${listingScript()}`;

// Lesson (d): pivot_root, seed experiment 5.
const PIVOT_PREP = `X=/containers/demo-root
rm -rf /containers; mkdir -p $X/bin $X/etc $X/proc $X/old-root
cp /bin/busybox $X/bin/
for a in sh cat ls mount umount hostname echo; do ln -s busybox $X/bin/$a; done
echo 'NAME="Demo rootfs (not the host)"' > $X/etc/os-release`;

export const PIVOT_RULES = `${PIVOT_PREP}
unshare -m sh -c '
cd /containers/demo-root
echo "$ pivot_root . old-root        (new_root is not a mount point: it is on the root mount)"
pivot_root . old-root 2>&1 || true
mount --make-rprivate /
mount --bind /containers/demo-root /containers/demo-root
cd /containers/demo-root
echo "$ mount --bind X X; pivot_root . /tmp   (put_old /tmp is not under new_root)"
pivot_root . /tmp 2>&1 || true'`;

export const PIVOT_DO = `${PIVOT_PREP}
unshare -m -u -p -f sh -c '
mount --make-rprivate /
mount --bind /containers/demo-root /containers/demo-root
cd /containers/demo-root
echo "$ pivot_root . old-root"; pivot_root . old-root
export PATH=/bin; cd /
hostname container
echo "$ cat /etc/os-release"; cat /etc/os-release
echo "$ mount -t proc proc /proc"; mount -t proc proc /proc
mp() { n=0; while read -r id par dev root mp rest; do n=$((n + 1)); [ $n -le 4 ] && echo "$mp"; done < /proc/self/mountinfo; echo "($n mounts)"; }
echo "$ mount points (first 4)"; mp
echo "$ umount -l /old-root"; umount -l /old-root
echo "$ mount points"; mp
echo "$ ls /"; ls /'`;

// Lesson (e): exec is setns, seed experiment 10.
export const NS_SIDE_BY_SIDE = `read -r P < ${PID_FILE}
for n in cgroup ipc mnt net pid uts; do
  printf '%s\\t%s\\t%s\\t%s\\n' $n "$(readlink /proc/1/ns/$n)" "$(readlink /proc/$P/ns/$n)" "$(${nsenterC1('readlink /proc/self/ns/$0')} $n)"
done`;

export const EXEC_VIEW = `${inContainer('echo "$ hostname"; hostname; echo "$ cat /etc/hostname"; cat /etc/hostname; echo "$ ps"; ps -o pid,args')}`;

// Lesson: chroot, seed experiments 3 and 4. The guest's busybox is static, so the hand-made rootfs
// needs no lib/ (the write-ups copy what `ldd /bin/bash` names; here it would say "not a dynamic
// executable").
export const CHROOT_HANDMADE = `R=/tmp/rootfs
rm -rf $R; mkdir -p $R/bin
ln /bin/busybox $R/bin/busybox 2>/dev/null || cp /bin/busybox $R/bin/busybox
for a in sh ls cat; do ln -s busybox $R/bin/$a; done
echo "$ find $R"; find $R | sort
echo "$ chroot $R /bin/sh"
chroot $R /bin/sh -c '
echo "$ ls /"; ls /
echo "$ ls /bin"; ls /bin
echo "$ cat /etc/os-release"; cat /etc/os-release 2>&1 || true'`;

/** The demo image's base layer: an unpacked busybox image, as `chroot busybox /bin/sh` used. */
const BASE_DIFF = `${OVERLAY2}/${IMAGE_LAYERS[0]?.id ?? ''}/diff`;

export const CHROOT_IMAGE = `B=${BASE_DIFF}
echo "$ chroot <the image's base layer> /bin/sh"
chroot $B /bin/sh -c '
echo "$ cat /etc/os-release"; cat /etc/os-release
echo "$ ls /"; ls /'
echo "$ uname -r   (inside, then outside: one kernel)"; chroot $B /bin/uname -r; uname -r
# The chrooted shell says "in" on a fifo opened before the chroot, so the PID is read after chroot(2).
rm -f /tmp/chroot-in; mkfifo /tmp/chroot-in
chroot $B /bin/sh -c 'echo in >&3; exec sleep 60' 3>/tmp/chroot-in &
C=$!
read -r in < /tmp/chroot-in; rm -f /tmp/chroot-in
echo "$ readlink /proc/<chrooted PID>/root"; readlink /proc/$C/root
echo "namespace	host	chroot"
for n in mnt uts pid net; do printf '%s\\t%s\\t%s\\n' $n "$(readlink /proc/self/ns/$n)" "$(readlink /proc/$C/ns/$n)"; done
kill $C; wait $C 2>/dev/null
true`;
