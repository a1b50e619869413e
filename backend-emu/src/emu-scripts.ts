// The guest shell scripts that do, with busybox, what backend-native does with koffi and its shim
// (docs/native-backend.md). Pure functions of the ContainerSpec: no emulator needed to read or test
// them. Every busybox command costs a fork+exec in the emulated CPU (50 to 300 ms), so the scripts
// batch work into as few commands as they can and use shell builtins (echo, read, [, :) elsewhere.
//
// A container start is two scripts left in the 9p share:
//   monitor.sh  (guest's namespaces, under setsid) cgroup, overlay mount, mount points, then
//               `env -i <container env> unshare -m -u -i -n -p -f sh inner.sh`; waits; writes `exit`.
//   inner.sh    (PID 1 of the new namespaces) joins the cgroup, hostname, the spec's mounts, devices,
//               lo up, /proc, pivot_root, cwd, resolves the command in the container's PATH, execs it.
// Both report on a fifo the start request reads: "monitor N", "pid N", then "ok" or "error CODE MSG".
import type { ContainerSpec, MountSpec, ProcessSpec } from '../../shared/src/spec.js';
import { DEV_SYMLINKS } from '../../shared/src/spec.js';
import { cgroupV2Writes } from '../../shared/src/cgroup-limits.js';
import type { TarInput } from '../../shared/src/tar/index.js';
import { shellQuote as q } from './protocol.ts';
import { GUEST_CGROUP_PARENT, GUEST_RUN } from './emu-session.ts';
import { GUEST_CONFINE, STAGE_FDS, confineArgs, stageCommand } from './emu-confine.ts';

/** Mount flags busybox mount takes by name; everything else in an OCI option list is fs data. */
const PROPAGATION = new Set([
  'private',
  'rprivate',
  'slave',
  'rslave',
  'shared',
  'rshared',
  'unbindable',
  'runbindable',
]);

/** What the runtime knows about a bind source once it has put it into the guest. */
export interface GuestSource {
  guestPath: string;
  isFile: boolean;
}

export interface StartPaths {
  /** The container's directory in the 9p share, as the guest sees it. */
  share: string;
  /** The fifo the start request reads. */
  fifo: string;
  /** Guest path of each bind mount's source (index in spec.mounts). */
  sources: Map<number, GuestSource>;
  /** Trees (dirs, empty files, devices, symlinks) to extract under a mount, as `tree-N.tar`. */
  trees: Map<number | 'root', TarInput[]>;
  stdout: 'split' | 'log';
  stdin: boolean;
}

export function guestCgroup(spec: ContainerSpec): string {
  // spec.cgroup.path is "strata/<id>": the guest's parent is /sys/fs/cgroup/strata.
  return `${GUEST_CGROUP_PARENT}/${spec.cgroup.path.split('/').pop() ?? spec.id}`;
}

function isUnder(p: string, dir: string): boolean {
  return dir === '/' ? p !== '/' : p.startsWith(`${dir}/`);
}

/** The destinations the payload's root needs, grouped by the mount they must be created under. */
export function mountTrees(
  spec: ContainerSpec,
  sources: Map<number, GuestSource>,
): Map<number | 'root', TarInput[]> {
  const trees = new Map<number | 'root', TarInput[]>();
  // The innermost earlier non-bind mount (tmpfs /dev...) that covers a path: entries go in its tree.
  const owner = (p: string, before: number): number | 'root' => {
    let best: number | 'root' = 'root';
    let len = 0;
    spec.mounts.forEach((m, i) => {
      if (i >= before || m.type === 'bind' || m.type === 'proc') return;
      if (isUnder(p, m.destination) && m.destination.length > len) {
        best = i;
        len = m.destination.length;
      }
    });
    return best;
  };
  const add = (key: number | 'root', input: TarInput) => {
    const list = trees.get(key) ?? [];
    list.push(input);
    trees.set(key, list);
  };
  const rel = (p: string, key: number | 'root') =>
    key === 'root' ? p.replace(/^\/+/, '') : p.slice(spec.mounts[key]!.destination.length + 1);
  spec.mounts.forEach((m, i) => {
    const key = owner(m.destination, i);
    if (key === 'root') return; // made in the overlay by the monitor (rootMountPoints)
    const isFile = sources.get(i)?.isFile === true;
    add(key, {
      header: { path: rel(m.destination, key), type: isFile ? 'file' : 'dir', mode: isFile ? 0o644 : 0o755 },
      body: '',
    });
  });
  for (const d of spec.devices) {
    const key = owner(d.path, spec.mounts.length);
    add(key, {
      header: { path: rel(d.path, key), type: 'char', mode: d.mode, devmajor: d.major, devminor: d.minor },
    });
  }
  for (const [link, target] of DEV_SYMLINKS) {
    const key = owner(link, spec.mounts.length);
    add(key, { header: { path: rel(link, key), type: 'symlink', linkpath: target, mode: 0o777 } });
  }
  return trees;
}

/** Mount points in the overlay itself (not under a tmpfs the payload gets): dirs and file targets. */
function rootMountPoints(
  spec: ContainerSpec,
  sources: Map<number, GuestSource>,
): { dirs: string[]; files: string[] } {
  const dirs = new Set<string>();
  const files: string[] = [];
  spec.mounts.forEach((m, i) => {
    const covered = spec.mounts.some(
      (o, j) => j < i && o.type !== 'bind' && o.type !== 'proc' && isUnder(m.destination, o.destination),
    );
    if (covered) return;
    if (sources.get(i)?.isFile) {
      files.push(m.destination);
      const parent = m.destination.slice(0, m.destination.lastIndexOf('/'));
      if (parent) dirs.add(parent);
    } else dirs.add(m.destination);
  });
  if (spec.process.cwd !== '/') dirs.add(spec.process.cwd);
  return { dirs: [...dirs], files };
}

function splitOptions(options: string[]): { flags: string[]; rec: boolean } {
  const flags: string[] = [];
  let rec = false;
  for (const o of options) {
    if (o === 'rbind') rec = true;
    else if (o === 'bind' || o === 'rw' || PROPAGATION.has(o)) continue;
    else flags.push(o);
  }
  return { flags, rec };
}

/** Shell lines that mount one spec entry at $M<destination> (inside the new mount namespace). */
function mountLines(m: MountSpec, i: number, p: StartPaths): string[] {
  const target = `"$M"${q(m.destination)}`;
  const { flags, rec } = splitOptions(m.options);
  const lines: string[] = [];
  if (m.type === 'bind') {
    const src = p.sources.get(i)?.guestPath ?? m.source;
    lines.push(
      `mount ${rec ? '--rbind' : '--bind'} ${q(src)} ${target} || fail 125 ${q(`bind mount of ${m.destination}`)}`,
    );
    // A bind mount ignores flags when it is made: ro (and nosuid...) need a remount, as with mount(2).
    if (flags.length > 0)
      lines.push(
        `mount -o ${q(['remount', 'bind', ...flags].join(','))} ${target} || fail 125 ${q(`remount of ${m.destination}`)}`,
      );
  } else {
    const opts = flags.length > 0 ? ` -o ${q(flags.join(','))}` : '';
    lines.push(
      `mount -t ${q(m.type)}${opts} ${q(m.source)} ${target} || fail 125 ${q(`mount of ${m.type} on ${m.destination}`)}`,
    );
  }
  if (p.trees.has(i))
    lines.push(`tar -x -f "$X/tree-${i}.tar" -C ${target} || fail 125 ${q(`populating ${m.destination}`)}`);
  return lines;
}

/** The cgroup v2 files for the spec's limits: the core's mapping (runc's), as shell lines. */
export function cgroupLines(spec: ContainerSpec, cg: string): string[] {
  return cgroupV2Writes(spec.cgroup.limits).map((w) => {
    const line = `echo ${q(w.value)} > ${cg}/${w.file}`;
    return w.optional ? `[ ! -e ${cg}/${w.file} ] || ${line}` : line;
  });
}

/**
 * Shell that resolves $1 as execvp would in the current root with the container's $PATH, into $r;
 * on failure reports the error the native backend gives (127 not found, 126 not executable).
 */
const RESOLVE_FN = `
strata_resolve() {
  case $1 in
  */*)
    [ -e "$1" ] || fail 127 "stat $1: no such file or directory"
    [ -d "$1" ] && fail 126 "exec $1: is a directory"
    [ -x "$1" ] || fail 126 "exec $1: permission denied"
    r=$1; return 0 ;;
  esac
  r=
  _ifs=$IFS; IFS=:
  for _d in \${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}; do
    if [ -f "\${_d:-.}/$1" ] && [ -x "\${_d:-.}/$1" ]; then r="\${_d:-.}/$1"; break; fi
  done
  IFS=$_ifs
  [ -n "$r" ] || fail 127 "exec: \\"$1\\": executable file not found in \\$PATH"
}
`;

/**
 * How the payload is started once everything is in place: exec (or a reaping PID 1 with --init),
 * through the confinement stage with `conf` (its flags) unless that is null.
 */
function payloadLines(proc: ProcessSpec, init: boolean, conf: string[] | null): string[] {
  const [argv0 = '', ...rest] = proc.args;
  const args = rest.map(q).join(' ');
  const user = proc.user && proc.user !== 'root' && proc.user !== '0' && proc.user !== '0:0' ? proc.user : '';
  // Unconfined: chpst resolves the user in the container's own /etc/passwd (the root is already the
  // container's), where the container's busybox has it.
  const asUser = user ? `chpst -u ${q(user)} ` : '';
  const run = conf ? stageCommand(conf, argv0, proc.user, args) : `${asUser}"$r" ${args}`;
  if (!init) {
    return [conf || user ? `exec ${run}` : `exec -a ${q(argv0)} "$r" ${args}`];
  }
  return [
    `${run} &`,
    'child=$!',
    // The stage reports on fd 3; PID 1 keeps neither it nor the stage's binary open.
    ...(conf ? ['exec 3>&- 5<&- 6<&-'] : []),
    'for s in TERM INT HUP QUIT USR1 USR2; do trap "kill -$s \\$child 2>/dev/null" $s; done',
    'while :; do wait $child; code=$?; [ -d /proc/$child ] || break; done',
    'exit $code',
  ];
}

export function innerScript(spec: ContainerSpec, p: StartPaths): string {
  const M = spec.rootfs.mergedDir;
  const conf = confineArgs(spec.security);
  const lines = [
    `M=${q(M)}`,
    `X=${q(p.share)}`,
    // Setup errors go to a file of their own, not into the container's output.
    `exec 4>&2 2>${q(`${GUEST_RUN}/${spec.id}.setup`)}`,
    `fail() { e=$(tail -n 3 ${GUEST_RUN}/${spec.id}.setup 2>/dev/null | tr '\\n' ' '); echo "error $1 $2\${e:+: $e}" >&3; exit $1; }`,
    RESOLVE_FN,
    // /proc is still the guest's here: /proc/self/stat's first field is our PID in the guest.
    'read gp _ < /proc/self/stat',
    'echo "pid $gp" >&3',
    `echo ${q(spec.hostname)} > /proc/sys/kernel/hostname || fail 125 sethostname`,
  ];
  spec.mounts.forEach((m, i) => {
    if (m.type !== 'proc') lines.push(...mountLines(m, i, p));
  });
  if (p.trees.has('root')) lines.push(`tar -x -f "$X/tree-root.tar" -C "$M" || fail 125 devices`);
  lines.push('ip link set lo up || fail 125 "lo up"');
  // The cgroup is joined last, so that the setup's forks do not count against pids.max.
  lines.push(`echo 0 > ${guestCgroup(spec)}/cgroup.procs || fail 125 'joining the cgroup'`);
  // proc is mounted by PID 1 of the new PID namespace, before pivot_root, where native's PID 1 does
  // it after: the same mount either way, and busybox applets (run as /proc/self/exe) need a /proc.
  for (const m of spec.mounts.filter((x) => x.type === 'proc')) {
    lines.push(
      `mount -t proc -o ${q(splitOptions(m.options).flags.join(',') || 'rw')} proc "$M"${q(m.destination)} || fail 125 'mount of /proc'`,
    );
  }
  if (conf) lines.push(`exec ${STAGE_FDS} || fail 125 'opening the confinement stage'`);
  lines.push(
    'cd "$M" || fail 125 "chdir to the rootfs"',
    'pivot_root . . || fail 125 pivot_root',
    'umount -l . || fail 125 "detaching the old root"',
    `cd ${q(spec.process.cwd)} 2>/dev/null || fail 126 ${q(`chdir to cwd ("${spec.process.cwd}") set in config.json failed: no such file or directory`)}`,
    `strata_resolve ${q(spec.process.args[0] ?? '')}`,
    // The stage reports ok (or its error) itself, right before execve.
    ...(conf ? ['exec 2>&4 4>&-'] : ['echo ok >&3', 'exec 2>&4 3>&- 4>&-']),
    // ash exports these itself; the payload gets exactly the spec's environment.
    ...['PWD', 'OLDPWD', 'SHLVL']
      .filter((v) => !spec.process.env.some((e) => e.startsWith(`${v}=`)))
      .map((v) => `unset ${v}`),
    // Masked and read-only paths over the container's /proc and /sys: by the stage, as by the shim.
    ...payloadLines(spec.process, spec.init, conf ? ['--paths', '--report-fd', '3', ...conf] : null),
  );
  return lines.join('\n') + '\n';
}

export function monitorScript(spec: ContainerSpec, p: StartPaths): string {
  const r = spec.rootfs;
  const M = r.mergedDir;
  const cg = guestCgroup(spec);
  const overlay = `lowerdir=${r.lowerDirs.join(':')},upperdir=${r.upperDir},workdir=${r.workDir}`;
  const { dirs, files } = rootMountPoints(spec, p.sources);
  const guestDirs = [...p.sources.values()].filter((s) => !s.isFile).map((s) => s.guestPath);
  const env = spec.process.env.map(q).join(' ');
  const out = p.stdout === 'log' ? `>> "$X/log" 2>&1` : `> "$X/out" 2> "$X/err"`;
  const stdin = p.stdin ? '< "$X/stdin"' : '< /dev/null';
  return [
    `M=${q(M)}`,
    `X=${q(p.share)}`,
    `CG=${cg}`,
    `exec 3> ${q(p.fifo)}`,
    `fail() { echo "error $1 $2" >&3; exit $1; }`,
    'read mp _ < /proc/self/stat',
    'echo "monitor $mp" >&3',
    `mkdir -p $CG ${guestDirs.map(q).join(' ')} || fail 125 'creating the cgroup'`,
    ...cgroupLines(spec, '$CG').map((l) => `${l} || fail 125 ${q(`cgroup limit: ${l}`)}`),
    `mount -t overlay -o ${q(overlay)} overlay "$M" || fail 125 'mounting the overlay'`,
    // Only what is missing, so that nothing of the image's is copied up for nothing.
    'set --',
    ...dirs.map((d) => `[ -d "$M"${q(d)} ] || set -- "$@" "$M"${q(d)}`),
    '[ $# -eq 0 ] || mkdir -p "$@" || fail 125 "creating mount points"',
    ...files.map((f) => `[ -e "$M"${q(f)} ] || : > "$M"${q(f)} || fail 125 ${q(`creating ${f}`)}`),
    ...(r.readonly ? [`mount -o remount,ro "$M" || fail 125 'read-only rootfs'`] : []),
    `env -i ${env} unshare -m -u -i ${spec.network?.mode === 'host' ? '' : '-n '}-p -f --propagation private sh "$X/inner.sh" ${stdin} ${out}`,
    'code=$?',
    'exec 3>&-',
    'sig=0; [ $code -le 128 ] || sig=$((code - 128))',
    'oom=0',
    `if [ -e $CG/memory.events ]; then while read k v; do [ "$k" != oom_kill ] || [ "$v" = 0 ] || oom=1; done < $CG/memory.events; fi`,
    // The epoch from builtins only: btime (from /proc/stat) + uptime.
    'bt=0; while read k v; do [ "$k" != btime ] || bt=$v; done < /proc/stat',
    'read up _ < /proc/uptime',
    // Straight into `exit` (no mv, a fork): the host takes it only once the end=1 line is there.
    `printf 'code=%s\\nsignal=%s\\nfinished=%s\\noom=%s\\nend=1\\n' $code $sig $((bt + \${up%.*})) $oom > "$X/exit"`,
    `umount -l "$M" 2>/dev/null`,
    `rmdir $CG 2>/dev/null`,
    `rm -f ${q(p.fifo)} ${q(`${GUEST_RUN}/${spec.id}.setup`)}`,
    '',
  ].join('\n');
}

/** The start request: launch the monitor detached, relay its report lines until ok or error. */
export function startRequest(p: StartPaths): string {
  return [
    `mkfifo ${q(p.fifo)} || exit 1`,
    `setsid sh "${p.share}/monitor.sh" < /dev/null > /dev/null 2>&1 &`,
    'while IFS= read -r line; do',
    '  echo "$line"',
    '  case $line in ok | error*) break ;; esac',
    `done < ${q(p.fifo)}`,
  ].join('\n');
}

/** An exec: a detached wrapper that joins the cgroup and nsenters; its exit code lands in the share. */
export function execScript(spec: ContainerSpec, pid: number, proc: ProcessSpec, share: string): string {
  const [argv0 = '', ...rest] = proc.args;
  const user = proc.user && proc.user !== 'root' && proc.user !== '0' ? proc.user : '';
  const conf = confineArgs(spec.security);
  const inside = [
    'fail() { echo "$2" >&2; exit $1; }',
    RESOLVE_FN,
    `cd ${q(proc.cwd)} || fail 126 ${q(`chdir to cwd ("${proc.cwd}") failed`)}`,
    `strata_resolve ${q(argv0)}`,
    // An exec gets the container's confinement too (not the paths: they are in its mounts already).
    conf
      ? `exec ${stageCommand(conf, argv0, proc.user, rest.map(q).join(' '))}`
      : user
        ? `exec chpst -u ${q(user)} "$r" ${rest.map(q).join(' ')}`
        : `exec -a ${q(argv0)} "$r" ${rest.map(q).join(' ')}`,
  ].join('\n');
  return [
    // A failed redirection would end this script before it writes the exit file: test first.
    ...(conf ? [`[ -r ${GUEST_CONFINE} ] && exec ${STAGE_FDS}`] : []),
    `echo 0 > ${guestCgroup(spec)}/cgroup.procs 2>/dev/null`,
    `env -i ${proc.env.map(q).join(' ')} nsenter -t ${pid} -m -u -i -n -p -r -w sh -c ${q(inside)} < /dev/null > ${q(`${share}.out`)} 2> ${q(`${share}.err`)}`,
    // One write of the whole line (no mv, a fork): the host never sees a part of it.
    `echo "code=$?" > ${q(`${share}.exit`)}`,
    '',
  ].join('\n');
}
