// The in-namespace executor of scenario-native.ts, as Python source. Why Python: the steps must run
// in a process that keeps working after pivot_root has taken every binary away (a shell cannot run
// `umount` once the old root is gone) and that is single-threaded (unshare(CLONE_NEWNS) refuses a
// process whose threads share its fs_struct, which rules Node out). Python has everything loaded
// before the first pivot and makes each call as one syscall through ctypes, so the errno reported is
// the kernel's own. Debian ships python3 in its base image; the differential tests used it already.
//
// Protocol (stdout lines): "P job pid" (the job's first process, from the batch parent), "R job"
// (the innermost process is ready: the host reads /proc/PID/mountinfo of the whole chain, then
// writes a line to stdin), "J job {json}" (outcomes and trees), "D job status" (job finished).

export const EXECUTOR = String.raw`
import ctypes, errno, hashlib, json, os, platform, stat, sys

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.unshare.argtypes = [ctypes.c_int]
SYS_PIVOT_ROOT = {'x86_64': 155, 'aarch64': 41}[platform.machine()]
NS = {'mnt': 0x20000, 'uts': 0x4000000, 'ipc': 0x8000000, 'net': 0x40000000, 'pid': 0x20000000, 'cgroup': 0x2000000}
MS_REC, MS_PRIVATE, MNT_DETACH = 16384, 1 << 18, 2

class Fail(Exception):
    pass

def check(rc):
    if rc != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))

def enc(s):
    return None if s is None else s.encode()

def out(line):
    os.write(1, (line + '\n').encode())

def call(c, state):
    k = c['c']
    if k == 'mount':
        check(libc.mount(enc(c['source']), enc(c['target']), enc(c['fstype']), c['flags'], enc(c['data']) if c['data'] else None))
    elif k == 'umount':
        check(libc.umount2(enc(c['target']), MNT_DETACH if c['detach'] else 0))
    elif k == 'unshare':
        pid = os.fork()
        if pid != 0:
            _, status = os.waitpid(pid, 0)
            os._exit(0 if status == 0 else 1)
        state['chain'].append(state['step'])
        flags = 0
        for n in c['ns']:
            flags |= NS[n]
        check(libc.unshare(flags))
    elif k == 'pivot_root':
        check(libc.syscall(SYS_PIVOT_ROOT, enc(c['new_root']), enc(c['put_old'])))
    elif k == 'chroot':
        os.chroot(c['path'])
    elif k == 'chdir':
        os.chdir(c['path'])
    elif k == 'write':
        fd = os.open(c['path'], os.O_WRONLY | os.O_CREAT | (os.O_APPEND if c['append'] else os.O_TRUNC), c['mode'])
        try:
            os.write(fd, c['content'].encode())
        finally:
            os.close(fd)
    elif k == 'unlink':
        os.unlink(c['path'])
    elif k == 'rename':
        os.rename(c['from'], c['to'])
    elif k == 'mkdir':
        os.mkdir(c['path'], c['mode'])
    elif k == 'mkdirp':
        # Not os.makedirs: it makes the intermediate directories 0777.
        cur = ''
        for part in [x for x in c['path'].split('/') if x]:
            cur += '/' + part
            try:
                os.mkdir(cur, 0o755)
            except FileExistsError:
                if not stat.S_ISDIR(os.stat(cur).st_mode):
                    raise
    elif k == 'rmdir':
        os.rmdir(c['path'])
    elif k == 'chmod':
        os.chmod(c['path'], c['mode'])
    elif k == 'symlink':
        os.symlink(c['target'], c['path'])
    elif k == 'whiteout':
        os.mknod(c['path'], stat.S_IFCHR, os.makedev(0, 0))
    elif k == 'setxattr':
        os.setxattr(c['path'], c['name'], c['value'].encode(), follow_symlinks=False)
    else:
        raise Exception('unknown call ' + k)

def name(e):
    return errno.errorcode.get(e.errno, 'E%d' % e.errno)

def tree(top):
    res = []
    def walk(a, r):
        for n in sorted(os.listdir(a)):
            p = a.rstrip('/') + '/' + n
            rp = r.rstrip('/') + '/' + n
            st = os.lstat(p)
            e = {'path': rp, 'mode': stat.S_IMODE(st.st_mode)}
            if stat.S_ISDIR(st.st_mode):
                e['kind'] = 'dir'
                try:
                    if os.getxattr(p, 'trusted.overlay.opaque', follow_symlinks=False) == b'y':
                        e['opaque'] = True
                except OSError:
                    pass
            elif stat.S_ISREG(st.st_mode):
                with open(p, 'rb') as f:
                    data = f.read()
                e['kind'] = 'file'
                e['size'] = len(data)
                e['sha256'] = hashlib.sha256(data).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                e['kind'] = 'symlink'
                e['target'] = os.readlink(p)
                e['size'] = len(os.fsencode(e['target']))
            else:
                e['kind'] = 'chardev'
                e['rdev'] = '%d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev))
            res.append(e)
            if e['kind'] == 'dir':
                walk(p, rp)
    try:
        if not stat.S_ISDIR(os.stat(top).st_mode):
            return 'ENOTDIR'
        walk(top, '/')
    except OSError as e:
        return name(e)
    return res

def readline():
    buf = b''
    while not buf.endswith(b'\n'):
        b = os.read(0, 1)
        if not b:
            os._exit(3)
        buf += b

def job(i, j, world):
    os.umask(0)
    # The world: a private namespace whose root is a fresh tmpfs, nothing of the host left in it.
    check(libc.unshare(NS['mnt']))
    check(libc.mount(b'none', b'/', None, MS_REC | MS_PRIVATE, None))
    check(libc.mount(b'scenario', world.encode(), b'tmpfs', 0, None))
    os.mkdir(world + '/.old', 0o755)
    check(libc.syscall(SYS_PIVOT_ROOT, world.encode(), (world + '/.old').encode()))
    os.chdir('/')
    check(libc.umount2(b'/.old', MNT_DETACH))
    os.rmdir('/.old')
    state = {'chain': [None], 'step': None}
    for c in j['layers']:
        try:
            call(c, state)
        except OSError as e:
            out('J %d %s' % (i, json.dumps({'error': 'layer setup: %s %s' % (json.dumps(c), name(e))})))
            os._exit(0)
    outcomes = []
    for n, calls in enumerate(j['steps']):
        state['step'] = n
        o = 'ok'
        for c in calls:
            try:
                call(c, state)
            except OSError as e:
                o = name(e)
                break
        outcomes.append(o)
    out('R %d' % i)
    readline()
    trees = {}
    for t in j['trees']:
        trees[t] = tree(t)
    out('J %d %s' % (i, json.dumps({'outcomes': outcomes, 'chain': state['chain'], 'trees': trees})))
    os._exit(0)

def main():
    jobs = json.load(open(sys.argv[1]))
    world = sys.argv[2]
    for i, j in enumerate(jobs):
        # The child waits until the parent has announced its pid: "P" must reach the reader first.
        gate_r, gate_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(gate_w)
            os.read(gate_r, 1)
            os.close(gate_r)
            try:
                job(i, j, world)
            except BaseException as e:
                out('J %d %s' % (i, json.dumps({'error': 'executor: %r' % (e,)})))
            os._exit(1)
        os.close(gate_r)
        out('P %d %d' % (i, pid))
        os.write(gate_w, b'g')
        os.close(gate_w)
        _, status = os.waitpid(pid, 0)
        out('D %d %d' % (i, status))

main()
`;
