// The guest side of the emu runtime (docs/emulator.md): what the host asks the guest to do, as pure
// functions of the ContainerSpec (no emulator needed to read or test them).
//
// A container start is one request: `exec strata-confine run FLAGS -- CMD`, the guest's static
// stage (images/guest/run-stage.c), which builds the whole container in one process tree from the
// same plan flags as the native shim (shared/src/run-plan.ts, carried out by the same setup.c):
// cgroup and limits, overlay, namespaces, mounts, devices, /dev links, hostname, lo, /proc,
// pivot_root, confinement, exec. Its monitor stays in the guest, writes the payload's output and
// `exit` into the 9p share, unmounts the rootfs and removes the cgroup. It reports "monitor N",
// "pid N", then "ok" or "error CODE MSG" on the request's stdout.
//
// An exec is still a busybox script (a detached wrapper around nsenter): every busybox command costs
// a fork+exec in the emulated CPU, so it uses shell builtins where it can.
import type { ContainerSpec, ProcessSpec } from '../../shared/src/spec.js';
import { cgroupV2Writes } from '../../shared/src/cgroup-limits.js';
import { devSymlinkArgs, mountArgs, specDeviceArgs } from '../../shared/src/run-plan.js';
import { shellQuote as q } from './protocol.ts';
import { GUEST_CGROUP_PARENT } from './emu-session.ts';
import { GUEST_CONFINE, GUEST_SECCOMP_BPF, STAGE_FDS, confineArgs, stageCommand } from './emu-confine.ts';

/** What the runtime knows about a bind source once it has put it into the guest. */
export interface GuestSource {
  guestPath: string;
  isFile: boolean;
}

export interface StartPaths {
  /** The container's directory in the 9p share, as the guest sees it. */
  share: string;
  /** Guest path of each bind mount's source (index in spec.mounts). */
  sources: Map<number, GuestSource>;
  stdout: 'split' | 'log';
  stdin: boolean;
  /** The stage prints each step's time on the request's stderr (STRATA_TRACE=1). */
  trace?: boolean;
}

export function guestCgroup(spec: ContainerSpec): string {
  // spec.cgroup.path is "strata/<id>": the guest's parent is /sys/fs/cgroup/strata.
  return `${GUEST_CGROUP_PARENT}/${spec.cgroup.path.split('/').pop() ?? spec.id}`;
}

/**
 * The guest stage's argv for a container: the native shim's setup plan (overlay, mounts with the
 * bind sources mapped into the share, devices, links, hostname, network), the cgroup and its
 * limits, stdio and exit files in the share, the environment, the confinement, the payload.
 */
export function runStageArgs(spec: ContainerSpec, p: StartPaths): string[] {
  const r = spec.rootfs;
  const proc = spec.process;
  const mounts = spec.mounts.map((m, i) => {
    const src = p.sources.get(i);
    return src ? { ...m, source: src.guestPath } : m;
  });
  const conf = confineArgs(spec.security, GUEST_SECCOMP_BPF);
  return [
    GUEST_CONFINE,
    'run',
    '--rootfs',
    r.mergedDir,
    '--overlay',
    `lowerdir=${r.lowerDirs.join(':')},upperdir=${r.upperDir},workdir=${r.workDir}`,
    ...(proc.cwd !== '/' ? ['--mkdir', proc.cwd] : []),
    // The guest has no network device: a container's own namespace has loopback only.
    ...(spec.network?.mode === 'host' ? [] : ['--unshare-net', '--lo-up']),
    ...mountArgs(mounts),
    ...specDeviceArgs(spec),
    ...devSymlinkArgs(),
    ...(r.readonly ? ['--readonly-rootfs'] : []),
    '--hostname',
    spec.hostname,
    '--cgroup',
    guestCgroup(spec),
    ...cgroupV2Writes(spec.cgroup.limits).flatMap((w) => [
      w.optional ? '--cgroup-opt' : '--cgroup-set',
      w.file,
      w.value,
    ]),
    ...(p.stdin ? ['--stdin', `${p.share}/stdin`] : []),
    ...(p.stdout === 'log'
      ? ['--log', `${p.share}/log`]
      : ['--stdout', `${p.share}/out`, '--stderr', `${p.share}/err`]),
    '--exit',
    `${p.share}/exit`,
    ...proc.env.flatMap((e) => ['--env', e]),
    '--cwd',
    proc.cwd,
    ...(spec.init ? ['--init'] : []),
    ...(p.trace ? ['--trace'] : []),
    // Masked and read-only paths, capabilities, no_new_privs, seccomp: as the native shim.
    ...(conf ?? []),
    '--user',
    proc.user ?? '',
    '--',
    ...proc.args,
  ];
}

/**
 * The start request: the stage in place of the request's shell. Its report goes into the share
 * (`<share>/report`, read by the host from v86's memory) rather than the request's stdout: the agent
 * sends a non-empty stdout through a `base64` fork+exec, one more process per start.
 */
export function startRequest(spec: ContainerSpec, p: StartPaths): string {
  return `exec ${runStageArgs(spec, p).map(q).join(' ')} >${q(`${p.share}/report`)}\n`;
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
