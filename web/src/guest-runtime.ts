// A small container runtime in busybox sh for the build/run/exec/commit, volume and --net container:
// lessons: images are lists of overlay2 layers (a file per image under /var/lib/strata/images),
// containers are an overlay of those layers plus a read-write layer, started in new namespaces with
// pivot_root, as c1 is (guest-scripts.ts). The page cannot run the emu backend itself (its Engine and
// store need Node's fs), so the lessons carry out the same steps with these functions.
import { shellQuote as q } from '../../backend-emu/src/protocol.ts';
import { IMAGE_LAYERS, OVERLAY2 } from './layout.ts';

export const IMAGES = '/var/lib/strata/images';
export const RUN_DIR = '/run/strata';
export const BASE_IMAGE = 'strata-demo';

/**
 * PID 1 of a container (sh -c, positional: merged, hostname, workdir, pid file, volumes, env, cmd):
 * private propagation, hostname, the volumes bound in before the pivot (as Docker mounts them),
 * /proc and a tmpfs /dev, pivot_root into the overlay, then the command with the image's environment.
 * fd 3 is the pid file, opened before the pivot hides the host's /run.
 */
const CTR_INIT = [
  'm=$1 h=$2 w=$3 pf=$4 vols=$5 envs=$6 cmd=$7',
  'read -r hpid rest </proc/self/stat',
  'exec 3>$pf',
  'mount --make-rprivate /',
  'hostname "$h"',
  'for v in $vols; do mkdir -p "$m${v#*:}" && mount --bind "${v%%:*}" "$m${v#*:}" || exit 125; done',
  'mount -t proc proc $m/proc',
  'mount -t tmpfs -o mode=755,size=64k tmpfs $m/dev',
  'mknod -m 666 $m/dev/null c 1 3',
  'cd $m; pivot_root . .; umount -l .; cd /',
  'ip link set lo up 2>/dev/null',
  'mkdir -p "$w"; cd "$w"',
  'echo $hpid >&3; exec 3>&-',
  'eval "exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=$h $envs sh -c \\"\\$cmd\\""',
].join('\n');

/** The base image's file: the demo image's layers (made by c1's start script), nearest first. */
function baseImageFile(): string {
  const lower = [...IMAGE_LAYERS]
    .reverse()
    .map((l) => `l/${l.short}`)
    .join(':');
  return `IMG_LOWER=${q(lower)}\nIMG_ENV=''\nIMG_CMD='sh'\nIMG_WORKDIR=/\n`;
}

/**
 * The runtime's shell functions. Each prints what `docker` would do in one line, so transcripts read
 * like a session:
 *   ctr_run [-d] [--rm] [--net container:NAME] [-v SRC:DST]... NAME IMAGE ['COMMAND LINE']
 *                              (the command is one sh command line, run as sh -c; default the image's CMD)
 *   ctr_exec NAME CMD          (nsenter into every namespace of NAME's PID 1, as docker exec)
 *   ctr_commit NAME IMAGE      (NAME's read-write layer becomes IMAGE's top layer)
 *   ctr_rm NAME                (kill, unmount, remove the container's directory)
 *   ovl_mount LOWER UPPERDIR   (mounts the overlay of l/ chain LOWER on UPPERDIR/../merged)
 */
export function runtimePrelude(): string {
  return `OV=${OVERLAY2}; IMG=${IMAGES}; RUN=${RUN_DIR}
mkdir -p $IMG $RUN
[ -f $IMG/${BASE_IMAGE} ] || printf %s ${q(baseImageFile())} > $IMG/${BASE_IMAGE}
CTR_INIT=${q(CTR_INIT)}
ovl_mount() { # $1: l/ chain, nearest first; $2: the layer dir (diff, work, merged under it)
  mkdir -p $2/diff $2/work $2/merged
  l=$1; mount -t overlay overlay -o lowerdir=$OV/\${l//:l\\//:$OV/l/},upperdir=$2/diff,workdir=$2/work $2/merged
}
ctr_pid() { [ -s $RUN/$1.pid ] && read -r P < $RUN/$1.pid && [ -d /proc/$P ]; }
ctr_rm() {
  if ctr_pid $1; then kill -9 $P; fi
  umount -l $OV/$1/merged 2>/dev/null; rm -rf $OV/$1 $RUN/$1.pid $RUN/$1.log
}
ctr_run() {
  d= rm= net= vols=
  while :; do case $1 in
    -d) d=1; shift;; --rm) rm=1; shift;;
    --net) net=\${2#container:}; shift 2;; -v) vols="$vols $2"; shift 2;;
    *) break;; esac; done
  name=$1 image=$2 cmd=\${3:-}
  [ -f $IMG/$image ] || { echo "Unable to find image '$image' locally" >&2; return 125; }
  for v in $vols; do [ -d "\${v%%:*}" ] || { echo "invalid mount config for type \\"bind\\": bind source path does not exist: \${v%%:*}" >&2; return 125; }; done
  if ctr_pid $name; then echo "Conflict. The container name \\"/$name\\" is already in use" >&2; return 125; fi
  ctr_rm $name
  . $IMG/$image
  cmd=\${cmd:-$IMG_CMD}
  ovl_mount "$IMG_LOWER" $OV/$name
  echo "$IMG_LOWER" > $OV/$name/lower; echo $image > $OV/$name/image
  flags='-m -u -i -n -p -f'; pre=
  if [ -n "$net" ]; then
    ctr_pid $net || { echo "container $net is not running" >&2; return 125; }
    pre="nsenter -t $P -n"; flags='-m -u -i -p -f'
  fi
  if [ -n "$d" ]; then
    setsid $pre unshare $flags sh -c "$CTR_INIT" init $OV/$name/merged $name "$IMG_WORKDIR" $RUN/$name.pid "$vols" "$IMG_ENV" "$cmd" </dev/null >$RUN/$name.log 2>&1 &
    n=0
    while [ ! -s $RUN/$name.pid ]; do
      n=$((n + 1)); if [ $n -gt 300 ]; then echo "$name did not start:" >&2; cat $RUN/$name.log >&2; return 125; fi
      sleep 0.1
    done
  else
    $pre unshare $flags sh -c "$CTR_INIT" init $OV/$name/merged $name "$IMG_WORKDIR" /dev/null "$vols" "$IMG_ENV" "$cmd" </dev/null
    rc=$?
    [ -n "$rm" ] && ctr_rm $name
    return $rc
  fi
}
ctr_exec() { ctr_pid $1 || { echo "container $1 is not running" >&2; return 125; }; nsenter -t $P -m -u -i -n -p -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=$1 sh -c "$2"; }
ctr_commit() {
  src=$OV/$1; id=commit-$2; short=$(echo "CMT$2XXXXXXXXXXXXXXXXXXXXXXXXXX" | tr -cd A-Za-z0-9 | tr a-z A-Z | cut -c1-26)
  [ -d $src/diff ] || { echo "No such container: $1" >&2; return 1; }
  rm -rf $OV/$id; mkdir -p $OV/$id
  cp -a $src/diff $OV/$id/diff
  echo $short > $OV/$id/link; ln -sfn ../$id/diff $OV/l/$short
  from=$IMG/$(cat $src/image); . $from
  { echo "IMG_LOWER='l/$short:$IMG_LOWER'"; grep -v '^IMG_LOWER=' $from; } > $IMG/$2.new && mv $IMG/$2.new $IMG/$2
  echo "sha256:$(sha256sum $IMG/$2 | cut -c1-12)  $2 (top layer l/$short)"
}
layer_changes() { # what a diff dir holds, as docker diff prints it (A added or changed, D deleted)
  ( cd $1 && find . -mindepth 1 | sort | while read -r f; do
    if [ -c "$f" ]; then echo "D /\${f#./}"; else echo "A /\${f#./}"; fi
  done )
}`;
}
