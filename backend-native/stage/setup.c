// setup: see setup.h. Container paths are resolved with openat2(RESOLVE_IN_ROOT) from the rootfs:
// symlinks are followed as the container would see them and never lead out of it (the
// symlink-exchange class), and mounts go onto the resolved O_PATH fd (/proc/self/fd/N), as runc.
#define _GNU_SOURCE
#include "setup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

const char *setup_error = "";
static char error_buf[PATH_MAX + 64];

static int fail(const char *what, const char *path) {
  int e = errno;
  snprintf(error_buf, sizeof error_buf, "%s %s", what, path ? path : "");
  setup_error = error_buf;
  errno = e;
  return -1;
}

void setup_init(struct setup *s) {
  memset(s, 0, sizeof *s);
  s->join_net_fd = s->rootfd = s->master = s->slave = -1;
}

int setup_flag(struct setup *s, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  int left = argc - *i - 1;
#define VALUE(n) (left >= (n) ? argv[*i + (n)] : "")
  if (strcmp(a, "--rootfs") == 0) s->rootfs = VALUE(1), *i += 1;
  else if (strcmp(a, "--overlay") == 0) s->overlay = VALUE(1), *i += 1;
  else if (strcmp(a, "--mkdir") == 0) s->mkdir = VALUE(1), *i += 1;
  else if (strcmp(a, "--hostname") == 0) s->hostname = VALUE(1), *i += 1;
  else if (strcmp(a, "--join-net-fd") == 0) s->join_net_fd = atoi(VALUE(1)), *i += 1;
  else if (strcmp(a, "--unshare-net") == 0) s->unshare_net = 1;
  else if (strcmp(a, "--lo-up") == 0) s->lo_up = 1;
  else if (strcmp(a, "--readonly-rootfs") == 0) s->readonly = 1;
  else if (strcmp(a, "--bind-devices") == 0) s->bind_devices = 1;
  else if (strcmp(a, "--alloc-tty") == 0) s->alloc_tty = 1;
  else if (strcmp(a, "--mount") == 0 && left >= 6 && s->n_mounts < SETUP_MAX_MOUNTS) {
    // --mount TYPE FLAGS PROPAGATION SOURCE DEST DATA
    struct setup_mount *m = &s->mounts[s->n_mounts++];
    m->type = argv[*i + 1];
    m->flags = strtoul(argv[*i + 2], NULL, 10);
    m->propagation = strtoul(argv[*i + 3], NULL, 10);
    m->source = argv[*i + 4];
    m->dest = argv[*i + 5];
    m->data = argv[*i + 6][0] ? argv[*i + 6] : NULL;
    *i += 6;
  } else if (strcmp(a, "--device") == 0 && left >= 7 && s->n_devices < SETUP_MAX_DEVICES) {
    // --device c|b MODE(octal) MAJOR MINOR UID GID PATH
    struct setup_device *d = &s->devices[s->n_devices++];
    d->kind = argv[*i + 1][0];
    d->mode = (mode_t)strtoul(argv[*i + 2], NULL, 8);
    d->major = (unsigned)strtoul(argv[*i + 3], NULL, 10);
    d->minor = (unsigned)strtoul(argv[*i + 4], NULL, 10);
    d->uid = strtol(argv[*i + 5], NULL, 10);
    d->gid = strtol(argv[*i + 6], NULL, 10);
    d->path = argv[*i + 7];
    *i += 7;
  } else if (strcmp(a, "--symlink") == 0 && left >= 2 && s->n_links < SETUP_MAX_LINKS) {
    s->links[s->n_links][0] = argv[*i + 1];
    s->links[s->n_links][1] = argv[*i + 2];
    s->n_links++;
    *i += 2;
  } else
    return 0;
#undef VALUE
  return 1;
}

static int open_in_root(int rootfd, const char *path, int flags) {
  struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC), .resolve = RESOLVE_IN_ROOT};
  return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

// Split a container path into its parent (in `parent`) and last component (returned).
static const char *split(const char *path, char *parent, size_t size) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  size_t n = strlen(tmp);
  while (n > 1 && tmp[n - 1] == '/') tmp[--n] = 0;
  char *slash = strrchr(tmp, '/');
  if (!slash) {
    snprintf(parent, size, "/");
    return path + (strlen(path) - n) + 0;  // relative: the whole (trimmed) path
  }
  *slash = 0;
  snprintf(parent, size, "%s", tmp[0] ? tmp : "/");
  return path + (slash - tmp) + 1;
}

// O_PATH fd of a container path, created if missing (parents as 0755 directories, the path itself
// as a directory or, with `file`, an empty file). A dangling symlink is followed inside the rootfs
// to where it points, as secureJoin does.
static int ensure(int rootfd, const char *path, int file, int depth) {
  int fd = open_in_root(rootfd, path, O_PATH);
  if (fd >= 0 || errno != ENOENT) return fd;
  if (depth > 40) {
    errno = ELOOP;
    return -1;
  }
  char parent[PATH_MAX], base[NAME_MAX + 1];
  snprintf(base, sizeof base, "%s", split(path, parent, sizeof parent));
  if (strcspn(base, "/") != strlen(base) || !strcmp(base, ".") || !strcmp(base, "..") || !base[0]) {
    errno = EINVAL;
    return -1;
  }
  int pfd = ensure(rootfd, parent, 0, depth + 1);
  if (pfd < 0) return -1;
  int r = file ? openat(pfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644)
               : mkdirat(pfd, base, 0755);
  if (r < 0 && errno == EEXIST) {
    char target[PATH_MAX], next[2 * PATH_MAX + 2];
    ssize_t n = readlinkat(pfd, base, target, sizeof target - 1);
    close(pfd);
    if (n < 0) return open_in_root(rootfd, path, O_PATH);  // created meanwhile
    target[n] = 0;
    if (target[0] == '/') snprintf(next, sizeof next, "%s", target);
    else snprintf(next, sizeof next, "%s/%s", parent, target);
    return ensure(rootfd, next, file, depth + 1);
  }
  if (r >= 0 && file) close(r);
  close(pfd);
  if (r < 0) return -1;
  return open_in_root(rootfd, path, O_PATH);
}

static void fd_path(char *buf, size_t size, int fd) { snprintf(buf, size, "/proc/self/fd/%d", fd); }

static int apply_mount(struct setup *s, const struct setup_mount *m) {
  char at[64];
  int bind = strcmp(m->type, "bind") == 0 || (m->flags & MS_BIND);
  int file = 0;
  if (bind) {
    struct stat st;
    if (stat(m->source, &st) < 0) return fail("bind source", m->source);
    file = !S_ISDIR(st.st_mode);
  }
  int fd = ensure(s->rootfd, m->dest, file, 0);
  if (fd < 0) return fail("mount point", m->dest);
  if (strcmp(m->type, "proc") == 0) {
    // procfs takes its mounter's PID namespace: PID 1 mounts it (through this fd).
    snprintf(s->proc_path, sizeof s->proc_path, "/proc/self/fd/%d", fd);
    return 0;
  }
  fd_path(at, sizeof at, fd);
  if (bind) {
    if (mount(m->source, at, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0) return fail("bind mount", m->dest);
  } else if (mount(m->source, at, m->type, m->flags, m->data) < 0) {
    return fail("mount", m->dest);
  }
  close(fd);
  unsigned long extra = bind ? m->flags & ~(unsigned long)(MS_BIND | MS_REC) : 0;
  if (extra == 0 && m->propagation == 0) return 0;
  // The fd above is the mount point underneath: reopen to reach the new mount itself.
  fd = open_in_root(s->rootfd, m->dest, O_PATH);
  if (fd < 0) return fail("reopen", m->dest);
  fd_path(at, sizeof at, fd);
  // Bind mounts ignore other flags on creation: apply them with a remount (how `:ro` works).
  if (extra && mount(NULL, at, NULL, MS_BIND | MS_REMOUNT | extra, NULL) < 0) return fail("remount", m->dest);
  if (m->propagation && mount(NULL, at, NULL, m->propagation, NULL) < 0) return fail("propagation", m->dest);
  close(fd);
  return 0;
}

static int make_device(struct setup *s, const struct setup_device *d) {
  char parent[PATH_MAX], base[NAME_MAX + 1], at[64];
  snprintf(base, sizeof base, "%s", split(d->path, parent, sizeof parent));
  if (s->bind_devices) {
    int fd = ensure(s->rootfd, d->path, 1, 0);
    if (fd < 0) return fail("device", d->path);
    fd_path(at, sizeof at, fd);
    int r = mount(d->path, at, NULL, MS_BIND, NULL);
    close(fd);
    return r < 0 ? fail("bind device", d->path) : 0;
  }
  int pfd = ensure(s->rootfd, parent, 0, 0);
  if (pfd < 0) return fail("device dir", parent);
  mode_t type = d->kind == 'b' ? S_IFBLK : S_IFCHR;
  if (mknodat(pfd, base, type | d->mode, makedev(d->major, d->minor)) < 0) {
    int e = errno;
    close(pfd);
    if (e == EEXIST) return 0;  // --privileged: the defaults are there already
    errno = e;
    return fail("mknod", d->path);
  }
  // mknod is subject to the umask.
  int r = fchmodat(pfd, base, d->mode, 0);
  if (r == 0 && (d->uid >= 0 || d->gid >= 0))
    r = fchownat(pfd, base, (uid_t)d->uid, (gid_t)d->gid, AT_SYMLINK_NOFOLLOW);
  close(pfd);
  return r < 0 ? fail("device mode", d->path) : 0;
}

static int make_link(struct setup *s, const char *target, const char *path) {
  char parent[PATH_MAX], base[NAME_MAX + 1];
  snprintf(base, sizeof base, "%s", split(path, parent, sizeof parent));
  int pfd = ensure(s->rootfd, parent, 0, 0);
  if (pfd < 0) return fail("symlink dir", parent);
  unlinkat(pfd, base, 0);
  int r = symlinkat(target, pfd, base);
  close(pfd);
  return r < 0 ? fail("symlink", path) : 0;
}

static int interface_up(const char *name) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket", NULL);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
  int r = ioctl(fd, SIOCGIFFLAGS, &ifr);
  if (r == 0) {
    ifr.ifr_flags |= IFF_UP;
    r = ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  close(fd);
  return r < 0 ? fail("interface up", name) : 0;
}

static int alloc_tty(struct setup *s) {
  s->master = open_in_root(s->rootfd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY);
  if (s->master < 0) return fail("open", "/dev/pts/ptmx");
  int unlock = 0;
  if (ioctl(s->master, TIOCSPTLCK, &unlock) < 0) return fail("unlock pty", NULL);
  // The slave straight from the master: no path lookup in the container's /dev/pts.
  s->slave = ioctl(s->master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s->slave < 0) return fail("open pty slave", NULL);
  // The caller's terminal size, when it has one (the CLI's stdout).
  struct winsize ws;
  if (ioctl(1, TIOCGWINSZ, &ws) == 0) ioctl(s->master, TIOCSWINSZ, &ws);
  return 0;
}

// Not the network namespace: the daemon makes those ahead itself, of the kind a run needs, and
// the plan joins one (network.ts). One made here would be discarded by every run that joins or
// keeps another, and a discarded one's teardown holds the kernel's rtnl lock (its lo goes), which
// the run's own netlink requests then wait for.
int setup_ahead(void) {
  int flags = CLONE_NEWUTS | CLONE_NEWIPC;
  return unshare(flags) < 0 ? 0 : flags;
}

int setup_container(struct setup *s) {
  if (!s->rootfs) {
    errno = EINVAL;
    return fail("no --rootfs", NULL);
  }
  // On the host's mount namespace, so the host's /proc/mounts shows it, as with Docker.
  if (s->overlay && mount("overlay", s->rootfs, "overlay", 0, s->overlay) < 0) return fail("mount overlay on", s->rootfs);
  s->rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (s->rootfd < 0) return fail("open", s->rootfs);
  if (s->mkdir) {
    int fd = ensure(s->rootfd, s->mkdir, 0, 0);
    if (fd < 0) return fail("mkdir", s->mkdir);
    close(fd);
  }
  int fresh = (CLONE_NEWUTS | CLONE_NEWIPC | (s->unshare_net ? CLONE_NEWNET : 0)) & ~s->ahead;
  if (unshare(CLONE_NEWNS | fresh) < 0) return fail("unshare", NULL);
  if (s->join_net_fd >= 0) {
    if (setns(s->join_net_fd, CLONE_NEWNET) < 0) return fail("join network namespace", NULL);
    close(s->join_net_fd);
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return fail("make / private", NULL);
  // The fd from before unshare points into the host's mount tree: mounts need this namespace's.
  close(s->rootfd);
  s->rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (s->rootfd < 0) return fail("open", s->rootfs);
  for (int i = 0; i < s->n_mounts; i++)
    if (apply_mount(s, &s->mounts[i]) < 0) return -1;
  for (int i = 0; i < s->n_devices; i++)
    if (make_device(s, &s->devices[i]) < 0) return -1;
  for (int i = 0; i < s->n_links; i++)
    if (make_link(s, s->links[i][0], s->links[i][1]) < 0) return -1;
  // Read-write until here: mount points may still have needed creating (as runc does).
  if (s->readonly && mount(NULL, s->rootfs, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
    return fail("read-only rootfs", s->rootfs);
  if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0) return fail("sethostname", s->hostname);
  if (s->lo_up && interface_up("lo") < 0) return -1;
  if (s->alloc_tty && alloc_tty(s) < 0) return -1;
  return 0;
}

int setup_pivot(struct setup *s) {
  if (fchdir(s->rootfd) < 0) return fail("chdir", s->rootfs);
  if (syscall(SYS_pivot_root, ".", ".") < 0) return fail("pivot_root", s->rootfs);
  if (umount2(".", MNT_DETACH) < 0) return fail("detach old root", NULL);
  if (chdir("/") < 0) return fail("chdir", "/");
  close(s->rootfd);
  s->rootfd = -1;
  return 0;
}
