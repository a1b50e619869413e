// The guest scripts of the Docker-verb lessons (build, run, exec, commit, volumes, --net container:),
// written with guest-runtime.ts's functions; each prints the docker command it stands for ("$ ...").
// Pictures read some outputs: "process\t..." headed inode tables (ns-graph.ts) and "### " headed
// mount tables (mount-diff.ts); layer listings (layer-stack.ts) split by "@@ " lines (copy-up.ts).
import { BASE_IMAGE } from './guest-runtime.ts';
import { DEMO_TAG } from './dockerfile-build.ts';

const KINDS = 'cgroup ipc mnt net pid uts';
const SLEEPER = "'exec sleep 2147483647'";

/** Starts NAME detached from IMAGE unless it runs already (steps can be run in any order). */
function ensure(name: string, image: string, flags = ''): string {
  return `ctr_pid ${name} || ctr_run -d ${flags} ${name} ${image} ${SLEEPER} || exit 125`;
}

export const RUN = `echo '$ docker run --rm ${DEMO_TAG}                  (its CMD: sh hello.sh, in WORKDIR /app)'
ctr_run --rm app1 ${DEMO_TAG} || exit $?
echo '$ docker run -d --name app ${DEMO_TAG} sleep infinity'
ctr_rm app; ctr_run -d app ${DEMO_TAG} ${SLEEPER} || exit 125
ctr_pid app; echo "$ docker inspect -f '{{.State.Pid}}' app"; echo $P
echo '$ docker exec app head -1 /proc/self/mountinfo      (its root: the built layers on top)'
ctr_exec app 'head -1 /proc/self/mountinfo'
echo '$ docker exec app ls /app /etc/motd'
ctr_exec app 'ls /app; ls /etc/motd 2>&1 || true'`;

export const EXEC = `${ensure('app', DEMO_TAG)}
ctr_pid app
printf 'process\\thost: PID 1\\tapp: PID 1 (host PID %s)\\tdocker exec app\\n' $P
for n in ${KINDS}; do
  printf '%s\\t%s\\t%s\\t%s\\n' $n "$(readlink /proc/1/ns/$n)" "$(readlink /proc/$P/ns/$n)" "$(nsenter -t $P -m -u -i -n -p -r -w readlink /proc/self/ns/$n)"
done`;

export const COMMIT = `${ensure('app', DEMO_TAG)}
echo "$ docker exec app sh -c 'echo state > /app/state; rm /app/build-info'"
ctr_exec app 'echo "written in app" > /app/state; rm /app/build-info'
echo '$ docker diff app        (its read-write layer: A added or changed, D deleted)'
layer_changes $OV/app/diff
echo '$ docker commit app ${DEMO_TAG}:v2'
ctr_commit app ${DEMO_TAG}:v2 || exit 1
echo "$ docker run --rm ${DEMO_TAG}:v2 sh -c 'ls /app; cat /app/state'"
ctr_run --rm check ${DEMO_TAG}:v2 'ls /app; cat /app/state'`;

const VOLUME = '/var/lib/strata/volumes/demo-vol/_data';

export const VOLUME_BIND = `mkdir -p /srv/data; echo 'from the host' > /srv/data/host.txt; rm -f /srv/data/inside.txt
echo "$ docker run --rm -v /srv/data:/data ${BASE_IMAGE} sh -c 'ls /data; echo ... > /data/inside.txt; grep /data mountinfo'"
ctr_run --rm -v /srv/data:/data vol1 ${BASE_IMAGE} 'ls /data; echo "written inside" > /data/inside.txt; grep " /data " /proc/self/mountinfo'
echo '$ cat /srv/data/inside.txt                (host, the container is gone)'; cat /srv/data/inside.txt
echo '$ grep " /data " /proc/self/mountinfo     (host)'
grep ' /data ' /proc/self/mountinfo || echo "(none: the bind mount exists only in the container's mount namespace)"`;

export const VOLUME_NAMED = `ctr_rm vol2; mkdir -p ${VOLUME}
echo '$ docker volume create demo-vol; docker run -d --name vol2 -v demo-vol:/test ${BASE_IMAGE}'
ctr_run -d -v ${VOLUME}:/test vol2 ${BASE_IMAGE} ${SLEEPER} || exit 125
echo '$ docker exec vol2 touch /test/from-container'; ctr_exec vol2 'touch /test/from-container'
echo '$ ls ${VOLUME}      (host)'; ls ${VOLUME}
echo '$ docker commit vol2 vol-image; the new layer holds:'
ctr_commit vol2 vol-image >/dev/null && layer_changes $OV/commit-vol-image/diff
echo "(only the empty mount point /test: a volume's content is not in the container's layer)"`;

export const VOLUME_MOUNTS = `mkdir -p ${VOLUME}
${ensure('vol2', BASE_IMAGE, `-v ${VOLUME}:/test`)}
echo '### host: cat /proc/self/mountinfo'; cat /proc/self/mountinfo
echo '### container vol2: cat /proc/self/mountinfo'; ctr_exec vol2 'cat /proc/self/mountinfo'`;

const WEB_CMD = `'echo "hello from web" > /tmp/index.html; exec httpd -f -p 127.0.0.1:8080 -h /tmp'`;

export const NET_JOIN = `ctr_pid web || ctr_run -d web ${BASE_IMAGE} ${WEB_CMD} || exit 125
${ensure('side', BASE_IMAGE, '--net container:web')}
ctr_pid web; W=$P; ctr_pid side; S=$P
printf 'process\\thost: PID 1\\tweb: PID 1\\tside (--net container:web)\\n'
for n in ${KINDS}; do
  printf '%s\\t%s\\t%s\\t%s\\n' $n "$(readlink /proc/1/ns/$n)" "$(readlink /proc/$W/ns/$n)" "$(readlink /proc/$S/ns/$n)"
done`;

export const NET_TALK = `ctr_pid web || ctr_run -d web ${BASE_IMAGE} ${WEB_CMD} || exit 125
${ensure('side', BASE_IMAGE, '--net container:web')}
echo '$ docker exec side wget -qO- http://127.0.0.1:8080/index.html     (web answers on the shared loopback)'
ctr_exec side 'wget -q -O - http://127.0.0.1:8080/index.html'
echo '$ docker exec side hostname; docker exec side ps      (its own UTS and PID namespaces)'
ctr_exec side 'hostname; ps -o pid,args'
echo '$ wget -qO- http://127.0.0.1:8080/index.html       (host: another network namespace)'
wget -q -O - http://127.0.0.1:8080/index.html 2>&1 || true`;

/** The union lesson's copy-up, listed before and after the write (layer-stack listing format). */
export const COPY_UP = `U=/tmp/cu; umount $U/C 2>/dev/null; rm -rf $U; mkdir -p $U/A $U/B $U/C $U/upper $U/work; cd $U
echo A1 > A/t1.txt; echo A2 > A/t2.txt; echo B2 > B/t2.txt; echo B3 > B/t3.txt
mount -t overlay overlay -o lowerdir=$U/A:$U/B,upperdir=$U/upper,workdir=$U/work $U/C
list() { for l in B A upper; do printf '%s\\tL\\t\\n' $l; for f in $(ls $l); do
  if [ -c $l/$f ]; then t=w; else t=f; fi; printf '%s\\t%s\\t%s\\n' $l $t $f; done; done; }
echo '@@ before'; list
echo 'edited' >> C/t1.txt; rm C/t3.txt
echo '@@ after: echo edited >> C/t1.txt; rm C/t3.txt'; list
umount C`;
