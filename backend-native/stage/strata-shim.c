// strata-shim: the single-threaded stage of the native backend (docs/native-backend.md).
//
// Node cannot be PID 1 of a new PID namespace cheaply (a second Node start costs 30-45 ms) and a
// multithreaded process cannot do everything a container start needs. The CLI computes the plan
// (backend-native/src/runtime.ts); this small program carries it out, as runc's init does:
//
//   run:  mount the overlay, enter new mount/UTS/IPC(/net) namespaces and make the spec's mounts,
//         devices, hostname and loopback (setup.c); report "mounted" on the control socket; clone
//         the container's PID 1 into a new PID namespace, which moves itself into its cgroups
//         (v1) and mounts /proc; pivot_root both into the rootfs and return to the host's mount
//         namespace (v2: move PID 1 into its cgroups); PID 1 masks its paths. Meanwhile the CLI
//         resolves the user in the rootfs: its go line's credentials are relayed to PID 1, which
//         enters its cgroup namespace and execs the payload confined. Then wait for it, record the
//         exit status in the state dir, unmount the rootfs and remove the cgroups.
//   exec: join the container's mount namespace (setns needs a single-threaded caller), enter its
//         cgroups, and execve the command in place.
//
// Both confine the payload just before execve, as runc does (docs/security.md): masked and read-only
// paths right after /proc is mounted, then the capability bounding set and ambient set, the user,
// the remaining capability sets, no_new_privs, and the seccomp filter last.
//
// Arguments are flags followed by `--` and the payload argv. The payload's environment is this
// program's own environment: the caller passes the container's env to it unchanged.
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <grp.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "confine.h"
#include "setup.h"

#define MAX_FDS 32

struct opts {
  int run_mode;
  int ctl_fd;          // control socket to the CLI: reads "g", writes "pid N", "ok", "error ..."
  int state_fd;        // dir fd of containers/<id>, for the exit file
  int host_ns_fds[8];  // the host's namespaces (opened here before setup), to leave the container's
  int n_host_ns;
  int mntns_fd;        // exec: the container's mount namespace
  int cgroup_fds[MAX_FDS];
  int n_cgroup_fds;
  int cgroup_self;     // --cgroup-self: the fds are v1 `tasks` files the joining process writes "0" to
  const char *cleanup_mount;  // host path of the merged dir to unmount after exit
  const char *cgroup_dirs[MAX_FDS];
  int n_cgroup_dirs;
  int init;            // --init: PID 1 reaps and forwards, payload is PID 2
  int tty;             // stdin is a pty slave: make it the controlling terminal
  int relay_fd;        // -t: the pty master, relayed to stdout (the log or the CLI's terminal)
  int tty_stdin;       // --tty-stdin: and stdin relayed to it (-it)
  struct setup setup;  // the rootfs, namespaces and mounts (setup.h)
  int cgroupns;
  int oom_fd;          // memory.oom_control (v1) or memory.events (v2): its oom_kill counter
  const char *cwd;
  char **argv;
  struct confine conf; // caps, no_new_privs, masked/read-only paths, user, seccomp (confine.h)
  int seccomp_fd;      // --seccomp-fd: the profile compiled by the CLI (shared/src/security.ts)
  int export_fd;       // --export-bpf-fd: only write the profile's BPF program there and exit
  char *then[64];      // run on the host after cleanup (detached --rm)
  int n_then;
};

static int ctl = -1;
// In the container's PID 1 before execve: where a failure is reported (the parent turns it into
// the CLI's error). The control socket is not open there.
static int child_errfd = -1;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  if (ctl < 0) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0 && write(ctl, buf, (size_t)n) < 0) { /* the CLI may be gone (detached run) */ }
}

static void die(const char *what) {
  int e = errno;
  say("error %d %s\n", e, what);
  if (child_errfd >= 0) {
    char m[300];
    int n = snprintf(m, sizeof m, "%s: %s", what, strerror(e));
    if (n > 0 && write(child_errfd, m, (size_t)n) < 0) { /* the parent is gone */ }
  }
  fprintf(stderr, "strata-shim: %s: %s\n", what, strerror(e));
  _exit(125);
}

static int parse_int(const char *s) { return (int)strtol(s, NULL, 10); }

static void parse(int argc, char **argv, struct opts *o) {
  memset(o, 0, sizeof *o);
  o->ctl_fd = o->state_fd = o->mntns_fd = o->relay_fd = o->oom_fd = o->seccomp_fd = o->export_fd = -1;
  setup_init(&o->setup);
  o->cwd = "/";
  if (argc < 2) { fprintf(stderr, "usage: strata-shim run|exec [flags] -- cmd...\n"); _exit(125); }
  o->run_mode = strcmp(argv[1], "run") == 0;
  int i = 2;
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : "";
    if (strcmp(a, "--") == 0) { i++; break; }
    else if (confine_flag(&o->conf, argc, argv, &i)) continue;
    else if (setup_flag(&o->setup, argc, argv, &i)) continue;
    else if (strcmp(a, "--ctl-fd") == 0) { o->ctl_fd = parse_int(v); i++; }
    else if (strcmp(a, "--state-fd") == 0) { o->state_fd = parse_int(v); i++; }
    else if (strcmp(a, "--mntns-fd") == 0) { o->mntns_fd = parse_int(v); i++; }
    else if (strcmp(a, "--cgroup-fd") == 0) { if (o->n_cgroup_fds < MAX_FDS) o->cgroup_fds[o->n_cgroup_fds++] = parse_int(v); i++; }
    else if (strcmp(a, "--cgroup-dir") == 0) { if (o->n_cgroup_dirs < MAX_FDS) o->cgroup_dirs[o->n_cgroup_dirs++] = v; i++; }
    else if (strcmp(a, "--cleanup-mount") == 0) { o->cleanup_mount = v; i++; }
    else if (strcmp(a, "--oom-fd") == 0) { o->oom_fd = parse_int(v); i++; }
    else if (strcmp(a, "--cwd") == 0) { o->cwd = v; i++; }
    else if (strcmp(a, "--then") == 0) { if (o->n_then < 63) o->then[o->n_then++] = argv[i + 1]; i++; }
    else if (strcmp(a, "--seccomp-fd") == 0) { o->seccomp_fd = parse_int(v); i++; }
    else if (strcmp(a, "--export-bpf-fd") == 0) { o->export_fd = parse_int(v); i++; }
    else if (strcmp(a, "--init") == 0) o->init = 1;
    else if (strcmp(a, "--tty") == 0) o->tty = 1;
    else if (strcmp(a, "--tty-stdin") == 0) o->tty_stdin = 1;
    else if (strcmp(a, "--cgroupns") == 0) o->cgroupns = 1;
    else if (strcmp(a, "--cgroup-self") == 0) o->cgroup_self = 1;
    else { fprintf(stderr, "strata-shim: unknown flag %s\n", a); _exit(125); }
  }
  if (i >= argc) { fprintf(stderr, "strata-shim: no command\n"); _exit(125); }
  o->argv = &argv[i];
}

static void reset_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
}

static void join_cgroups(const struct opts *o, pid_t pid) {
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%d\n", (int)pid);
  for (int i = 0; i < o->n_cgroup_fds; i++) {
    if (write(o->cgroup_fds[i], buf, (size_t)n) < 0) die("join cgroup");
  }
}

// cgroup v1: the joining process moves itself, a single thread ("0" to each hierarchy's `tasks`).
// The kernel takes no global lock for that: moving another process (a PID to cgroup.procs) takes
// cgroup_threadgroup_rwsem for writing, whose first writer after a quiet spell waits a whole RCU
// grace period (6-15 ms here, on every run's path; docs/native-backend.md). A process that is
// single-threaded (the shim, and PID 1 before its execve) is then wholly in the cgroup.
static void join_cgroups_self(const struct opts *o) {
  for (int i = 0; i < o->n_cgroup_fds; i++) {
    if (write(o->cgroup_fds[i], "0", 1) < 0) die("join cgroup");
  }
}

static void close_cgroup_fds(const struct opts *o) {
  for (int i = 0; i < o->n_cgroup_fds; i++) close(o->cgroup_fds[i]);
}

// --- confinement -----------------------------------------------------------------------------

// The seccomp filter: libseccomp builds it here (the profile's line format) or the CLI hands over a
// program libseccomp compiled earlier (cached, docs/security.md): building costs milliseconds per
// start, loading a ready one microseconds. confine.c loads it either way.
static scmp_filter_ctx seccomp_ctx = NULL;

static uint32_t seccomp_action(const char *t) {
  if (t == NULL) return SCMP_ACT_KILL_PROCESS;
  switch (t[0]) {
    case 'A': return SCMP_ACT_ALLOW;
    case 'E': return SCMP_ACT_ERRNO((uint16_t)atoi(t + 1));
    case 'K': return SCMP_ACT_KILL_THREAD;
    case 'P': return SCMP_ACT_KILL_PROCESS;
    case 'T': return SCMP_ACT_TRAP;
    case 'L': return SCMP_ACT_LOG;
    case 'R': return SCMP_ACT_TRACE((uint16_t)atoi(t + 1));
  }
  return SCMP_ACT_KILL_PROCESS;
}

static void seccomp_fail(int r, const char *what) {
  errno = -r;
  die(what);
}

// Build the filter from the line format compileSeccomp() writes (shared/src/security.ts). It is
// built at start-up, while the monitor still reports errors to the CLI, and loaded just before
// execve.
static void build_seccomp(int fd, struct confine *c) {
  size_t cap = 65536, len = 0;
  char *text = malloc(cap);
  if (!text) die("seccomp profile");
  for (;;) {
    if (len + 1 >= cap) {
      cap *= 2;
      char *more = realloc(text, cap);
      if (!more) die("seccomp profile");
      text = more;
    }
    ssize_t n = read(fd, text + len, cap - len - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read seccomp profile");
    if (n == 0) break;
    len += (size_t)n;
  }
  text[len] = 0;
  close(fd);
  if (len >= 4 && memcmp(text, "bpf\n", 4) == 0) {
    // "bpf\n" and a program from --export-bpf-fd: struct sock_filter[] as the kernel takes it.
    if (confine_set_bpf(c, text + 4, len - 4) < 0) die(confine_error);
    free(text);
    return;
  }
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *ws = NULL;
    char *kind = strtok_r(line, " ", &ws);
    if (kind == NULL) continue;
    if (strcmp(kind, "default") == 0) {
      seccomp_ctx = seccomp_init(seccomp_action(strtok_r(NULL, " ", &ws)));
      if (seccomp_ctx == NULL) { errno = EINVAL; die("seccomp_init"); }
      // no_new_privs is ours to decide (--no-new-privs): libseccomp would set it on load.
      int r = seccomp_attr_set(seccomp_ctx, SCMP_FLTATR_CTL_NNP, 0);
      if (r < 0) seccomp_fail(r, "seccomp_attr_set");
      continue;
    }
    if (seccomp_ctx == NULL) { errno = EINVAL; die("seccomp profile without a default"); }
    if (strcmp(kind, "optimize") == 0) {
      // "optimize 2": libseccomp sorts the syscalls into a binary tree instead of a chain. The
      // kernel runs the program for each syscall number at load (its per-syscall allow cache) and
      // then on every syscall not in that cache: a chain of ~350 compares costs that on each.
      const char *level = strtok_r(NULL, " ", &ws);
      int r = seccomp_attr_set(seccomp_ctx, SCMP_FLTATR_CTL_OPTIMIZE, level ? (uint32_t)atoi(level) : 1);
      // A libseccomp without the attribute (before 2.5) builds the chain: slower, the same filter.
      if (r < 0 && r != -EINVAL && r != -EOPNOTSUPP) seccomp_fail(r, "seccomp_attr_set optimize");
      continue;
    }
    if (strcmp(kind, "arch") == 0) {
      const char *name = strtok_r(NULL, " ", &ws);
      uint32_t arch = name ? seccomp_arch_resolve_name(name) : 0;
      if (arch == 0) continue;  // an architecture this libseccomp does not know
      int r = seccomp_arch_add(seccomp_ctx, arch);
      if (r < 0 && r != -EEXIST) seccomp_fail(r, "seccomp_arch_add");
    } else if (strcmp(kind, "arch-remove") == 0) {
      // "arch-remove native": a program for another architecture only (the emu guest is i386; an
      // x86_64 section there is dead weight the guest's kernel would check and copy on every load).
      const char *name = strtok_r(NULL, " ", &ws);
      if (name == NULL || strcmp(name, "native") != 0) { errno = EINVAL; die("seccomp arch-remove"); }
      int r = seccomp_arch_remove(seccomp_ctx, SCMP_ARCH_NATIVE);
      if (r < 0) seccomp_fail(r, "seccomp_arch_remove");
    } else if (strcmp(kind, "rule") == 0) {
      uint32_t act = seccomp_action(strtok_r(NULL, " ", &ws));
      const char *count = strtok_r(NULL, " ", &ws);
      if (count == NULL) { errno = EINVAL; die("seccomp rule"); }
      unsigned n = (unsigned)atoi(count);
      struct scmp_arg_cmp cmp[6];
      if (n > 6) { errno = EINVAL; die("seccomp rule"); }
      for (unsigned k = 0; k < n; k++) {
        const char *idx = strtok_r(NULL, " ", &ws), *op = strtok_r(NULL, " ", &ws);
        const char *a = strtok_r(NULL, " ", &ws), *b = strtok_r(NULL, " ", &ws);
        if (!idx || !op || !a || !b) { errno = EINVAL; die("seccomp rule"); }
        cmp[k].arg = (unsigned)atoi(idx);
        cmp[k].op = (enum scmp_compare)atoi(op);
        cmp[k].datum_a = strtoull(a, NULL, 10);
        cmp[k].datum_b = strtoull(b, NULL, 10);
      }
      // The same action and conditions for every syscall named after them.
      for (const char *name = strtok_r(NULL, " ", &ws); name; name = strtok_r(NULL, " ", &ws)) {
        int nr = seccomp_syscall_resolve_name(name);
        // A syscall this libseccomp does not know stays at the default action (as with runc).
        if (nr == __NR_SCMP_ERROR) continue;
        int r = seccomp_rule_add_array(seccomp_ctx, act, nr, n, cmp);
        if (r < 0 && r != -EEXIST) seccomp_fail(r, name);
      }
    }
  }
  free(text);
}

// The built filter as a BPF program for confine.c (seccomp_export_bpf writes to an fd only).
static void export_seccomp(struct confine *c) {
  if (seccomp_ctx == NULL) return;
  int fd = memfd_create("seccomp", MFD_CLOEXEC);
  if (fd < 0) die("memfd_create");
  int r = seccomp_export_bpf(seccomp_ctx, fd);
  if (r < 0) seccomp_fail(r, "seccomp_export_bpf");
  off_t len = lseek(fd, 0, SEEK_CUR);
  char *prog = malloc(len > 0 ? (size_t)len : 1);
  if (len <= 0 || prog == NULL || pread(fd, prog, (size_t)len, 0) != len) die("seccomp program");
  if (confine_set_bpf(c, prog, (size_t)len) < 0) die(confine_error);
  free(prog);
  close(fd);
  seccomp_release(seccomp_ctx);
  seccomp_ctx = NULL;
}

// Become the payload: credentials, cwd, terminal, signals, execve. Reports execve failure through
// errfd (close-on-exec, so a successful execve closes it silently).
// `confined`: PID 1 with --init has already taken the payload's user and confinement itself.
static void become_payload(struct opts *o, int errfd, int confined) {
  child_errfd = errfd;
  if (setsid() < 0 && errno != EPERM) die("setsid");
  if (o->tty && ioctl(0, TIOCSCTTY, 0) < 0) die("TIOCSCTTY");
  if (!confined && confine_credentials(&o->conf) < 0) die(confine_error);
  if (chdir(o->cwd) < 0) {
    int e = errno;
    if (errfd >= 0) { char m[300]; int n = snprintf(m, sizeof m, "cwd %d %s", e, o->cwd); if (write(errfd, m, (size_t)n) < 0) {} }
    fprintf(stderr, "strata: chdir to cwd (\"%s\") set in config.json failed: %s\n", o->cwd, strerror(e));
    _exit(126);
  }
  reset_signals();
  // Nothing the shim inherited may reach the payload (leaked host fds are an escape route).
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  // Last, so nothing above depends on what the profile allows.
  if (confine_seccomp(&o->conf) < 0) die(confine_error);
  child_errfd = -1;
  execvp(o->argv[0], o->argv);
  int e = errno;
  if (errfd >= 0) { char m[300]; int n = snprintf(m, sizeof m, "exec %d %s", e, o->argv[0]); if (write(errfd, m, (size_t)n) < 0) {} }
  _exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}

static int status_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 255;
}

// PID 1 with --init: forward signals to the payload, reap everything, exit as the payload did.
static void run_as_init(struct opts *o, int errfd) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  // The init runs confined as the payload's user, as Docker's docker-init does.
  child_errfd = errfd;
  if (confine_credentials(&o->conf) < 0 || confine_seccomp(&o->conf) < 0) die(confine_error);
  pid_t child = fork();
  if (child < 0) die("fork payload");
  if (child == 0) become_payload(o, errfd, 1);
  close(errfd);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) { kill(child, sig); continue; }
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
      if (p == child) _exit(status_code(st));
    }
  }
}

static pid_t payload_pid = -1;
static int winch_master = -1;  // -t: a SIGWINCH (the CLI forwards its own) resizes the pty instead
static void forward(int sig) {
  struct winsize ws;
  if (sig == SIGWINCH && winch_master >= 0) {
    if (ioctl(1, TIOCGWINSZ, &ws) == 0) ioctl(winch_master, TIOCSWINSZ, &ws);
    return;
  }
  if (payload_pid > 0) kill(payload_pid, sig);
}

// The cgroup's oom_kill counter (v1 memory.oom_control and v2 memory.events both have an
// "oom_kill N" line). Read through an fd opened before start, while the cgroup still exists: the
// cgroup is removed right after the exit file is written.
static long oom_kills(int fd) {
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  for (char *line = buf; line && *line; ) {
    if (strncmp(line, "oom_kill ", 9) == 0) return strtol(line + 9, NULL, 10);
    line = strchr(line, '\n');
    if (line) line++;
  }
  return 0;
}

static void write_exit_file(const struct opts *o, int st) {
  if (o->state_fd < 0) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char buf[160];
  int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
  // Docker reports OOMKilled when the kernel's OOM killer acted in the container's cgroup.
  int oom = oom_kills(o->oom_fd) > 0;
  int n = snprintf(buf, sizeof buf, "code=%d\nsignal=%d\nfinished=%lld.%09ld\noom=%d\n", status_code(st), sig,
                   (long long)ts.tv_sec, ts.tv_nsec, oom);
  int fd = openat(o->state_fd, "exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (write(fd, buf, (size_t)n) != n) { close(fd); return; }
  // No fsync: the rename is what readers need (never a torn file); a status lost to a power cut
  // reads as "unknown" (as Docker, which does not sync it either), and the sync sat on every
  // run --rm's critical path (bench/run-latency).
  close(fd);
  renameat(o->state_fd, "exit.tmp", o->state_fd, "exit");
}

static int write_all(int fd, const char *buf, ssize_t n) {
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(fd, buf + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    off += w;
  }
  return 0;
}

// Copy the pty master to `out` (the log, or the CLI's terminal) until the terminal hangs up (EIO
// once every slave is closed); with `in` >= 0 (-it) also `in` to the master until its EOF.
static void relay_tty(int master, int out, int in) {
  char buf[8192];
  for (;;) {
    struct pollfd p[2] = {{master, POLLIN, 0}, {in, POLLIN, 0}};
    if (poll(p, in >= 0 ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (in >= 0 && p[1].revents) {
      ssize_t n = read(in, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) in = -1;
      else if (write_all(master, buf, n) < 0) return;
    }
    if (p[0].revents) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || write_all(out, buf, n) < 0) return;
    }
  }
}

static void cleanup_host(const struct opts *o) {
  if (o->n_host_ns == 0) return;
  // Back to the host's mount, network, ... namespaces. In rootless mode only the mount namespace
  // (the pause process's) may be re-entered: the others belong to the initial user namespace.
  for (int i = 0; i < o->n_host_ns; i++) {
    setns(o->host_ns_fds[i], 0);
    close(o->host_ns_fds[i]);
  }
  if (o->cleanup_mount) umount2(o->cleanup_mount, MNT_DETACH);
  for (int i = 0; i < o->n_cgroup_dirs; i++) {
    // The PID namespace is gone, but its tasks may still be exiting for a moment.
    for (int tries = 0; tries < 100 && rmdir(o->cgroup_dirs[i]) < 0 && errno == EBUSY; tries++) usleep(2000);
  }
}

// The host's namespaces, opened before setup leaves them: the monitor returns there.
// In host_ns_fds' order: mnt, uts, ipc, net, pid, cgroup. Returns how many.
static int open_host_namespaces(int fds[]) {
  static const char *const kinds[] = {"mnt", "uts", "ipc", "net", "pid", "cgroup"};
  int n = 0;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    char p[32];
    snprintf(p, sizeof p, "/proc/self/ns/%s", kinds[i]);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(p);
    fds[n++] = fd;
  }
  return n;
}

// What the monitor relays of the go line to PID 1, in one pipe write (well under PIPE_BUF).
struct go_creds {
  uid_t uid;
  gid_t gid;
  int n_groups;
  gid_t groups[CONFINE_MAX_GROUPS];
};

// The CLI's go line, once it has seen the mounted rootfs: "g UID GID [GID...]" (the user it
// resolved from the container's /etc/passwd and /etc/group).
static void read_go(struct opts *o) {
  char line[1024];
  size_t n = 0;
  while (n < sizeof line - 1) {
    ssize_t r = read(o->ctl_fd, line + n, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r != 1) _exit(125);  // the CLI gave up before start
    if (line[n] == '\n') break;
    n++;
  }
  line[n] = 0;
  if (line[0] != 'g') _exit(125);
  char *save = NULL, *tok = strtok_r(line + 1, " ", &save);
  for (int k = 0; tok; tok = strtok_r(NULL, " ", &save), k++) {
    long v = strtol(tok, NULL, 10);
    if (k == 0) o->conf.uid = (uid_t)v;
    else if (k == 1) o->conf.gid = (gid_t)v;
    else if (o->conf.n_groups < CONFINE_MAX_GROUPS) o->conf.groups[o->conf.n_groups++] = (gid_t)v;
  }
}

static int do_run(struct opts *o) {
  struct setup *su = &o->setup;
  // A shim started ahead opened them before it left any (main).
  if (o->n_host_ns == 0) o->n_host_ns = open_host_namespaces(o->host_ns_fds);
  if (setup_container(su) < 0) die(setup_error);
  o->relay_fd = su->master;
  winch_master = su->master;
  // The rootfs for the CLI to resolve the user in (/proc/SHIM/fd/N/etc/passwd): this process's
  // root and mount namespace change under it from here on (pivot, then the host's again).
  int cli_root = fcntl(su->rootfd, F_DUPFD_CLOEXEC, 3);
  if (cli_root < 0) die("dup rootfs fd");
  say("mounted %d\n", cli_root);
  // PID 1 is made, /proc mounted, the rootfs pivoted into and the paths masked while the CLI
  // resolves the user and sends the go line: only the user's credentials, the cgroup namespace
  // and the exec wait for it (docs/native-backend.md).
  // The container's mount namespace, held until the cleanup is done: when PID 1 exits as its last
  // process, tearing it down (every mount, and an expedited RCU grace period) would delay PID 1's
  // exit status; this monitor drops it after "done" instead, off the CLI's path.
  int container_mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  int release[2], errp[2], ready[2];
  if (pipe2(release, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0) die("pipe");
  // clone(CLONE_NEWPID) rather than unshare: only the child enters the new PID namespace, so this
  // monitor's own children (the --then command) are born in a live one.
  pid_t child = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
  if (child < 0) die("clone(CLONE_NEWPID)");
  if (child == 0) {
    close(release[1]);
    close(errp[0]);
    close(ready[0]);
    if (su->slave >= 0) {
      if (dup2(su->slave, 0) < 0 || dup2(su->slave, 1) < 0 || dup2(su->slave, 2) < 0) die("pty stdio");
      close(su->slave);
    }
    if (o->relay_fd >= 0) close(o->relay_fd);
    close(o->ctl_fd);
    if (o->state_fd >= 0) close(o->state_fd);
    if (o->oom_fd >= 0) close(o->oom_fd);
    for (int i = 0; i < o->n_host_ns; i++) close(o->host_ns_fds[i]);
    if (container_mnt >= 0) close(container_mnt);
    close(cli_root);
    ctl = -1;  // closed above: a failure goes to errp from here on
    child_errfd = errp[1];
    // Before anything else: its children (--init's payload) and its cgroup namespace start there.
    if (o->cgroup_self) join_cgroups_self(o);
    close_cgroup_fds(o);
    // /proc is mounted before pivot_root, while the host's /proc is still visible in this mount
    // namespace: in a user namespace the kernel allows a new proc mount only then.
    if (su->proc_path[0] && mount("proc", su->proc_path, "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL) < 0)
      die("mount /proc");
    if (write(ready[1], "p", 1) != 1) _exit(125);
    close(ready[1]);
    char c;
    // "v": the rootfs is this process's root now (and on cgroup v2, it is in its cgroups).
    if (read(release[0], &c, 1) != 1) _exit(125);
    // Over the fresh /proc (and /sys), while PID 1 still has CAP_SYS_ADMIN.
    if (confine_paths(&o->conf) < 0) die(confine_error);
    // Then the go line's credentials, relayed by the monitor (EOF: the CLI gave up).
    struct go_creds creds;
    if (read(release[0], &creds, sizeof creds) != (ssize_t)sizeof creds) _exit(125);
    close(release[0]);
    o->conf.uid = creds.uid;
    o->conf.gid = creds.gid;
    o->conf.n_groups = creds.n_groups;
    memcpy(o->conf.groups, creds.groups, sizeof creds.groups);
    if (o->cgroupns && unshare(CLONE_NEWCGROUP) < 0) die("unshare(CLONE_NEWCGROUP)");
    if (o->init) run_as_init(o, errp[1]);
    become_payload(o, errp[1], 0);
  }
  payload_pid = child;
  close(release[0]);
  close(errp[1]);
  close(ready[1]);
  if (su->slave >= 0) close(su->slave);
  char msg[300];
  char p = 0;
  if (read(ready[0], &p, 1) != 1) {  // PID 1 failed before /proc was up: errp says why
    ssize_t n = read(errp[0], msg, sizeof msg - 1);
    msg[n > 0 ? n : 0] = 0;
    say("error %s\n", n > 0 ? msg : "PID 1 could not mount /proc in its new PID namespace");
    _exit(125);
  }
  close(ready[0]);
  // This monitor and PID 1 move into the rootfs; the host's tree is detached from the container's
  // namespace; the monitor itself goes back to the host's mount namespace.
  if (setup_pivot(su) < 0) {
    kill(child, SIGKILL);
    die(setup_error);
  }
  if (setns(o->host_ns_fds[0], CLONE_NEWNS) < 0) die("setns(host mnt)");
  if (!o->cgroup_self) join_cgroups(o, child);  // cgroup v2: PID 1 is moved from here
  close_cgroup_fds(o);
  if (write(release[1], "v", 1) != 1) die("release");
  say("pid %d\n", (int)child);
  read_go(o);
  close(cli_root);
  struct go_creds creds = {.uid = o->conf.uid, .gid = o->conf.gid, .n_groups = o->conf.n_groups};
  memcpy(creds.groups, o->conf.groups, sizeof creds.groups);
  // PID 1 may have failed meanwhile (its message waits in errp): the write's EPIPE is ignored.
  if (write(release[1], &creds, sizeof creds) < 0) { /* read below */ }
  close(release[1]);
  ssize_t n = read(errp[0], msg, sizeof msg - 1);
  close(errp[0]);
  if (n > 0) {
    msg[n] = 0;
    say("error %s\n", msg);
  } else {
    say("ok\n");
  }
  // The control socket stays open until the cleanup is done: "exited" once the payload is reaped,
  // then "done" tells the CLI the container is gone from the host before this process has exited.
  // Its exit drops the last reference to the detached overlay, whose teardown (~1 ms here) then
  // runs off the CLI's path.
  int done_fd = o->ctl_fd;
  ctl = -1;
  if (o->relay_fd >= 0) {
    relay_tty(o->relay_fd, 1, o->tty_stdin ? 0 : -1);
    winch_master = -1;
    close(o->relay_fd);
  }
  int st = 0;
  while (waitpid(child, &st, 0) < 0 && errno == EINTR) {}
  // PID 1 is reaped only once every process of its PID namespace is gone: the CLI may release
  // what the container held (its network) while this monitor cleans up the rest.
  if (write(done_fd, "exited\n", 7) < 0) { /* the CLI is gone */ }
  write_exit_file(o, st);
  cleanup_host(o);
  if (write(done_fd, "done\n", 5) < 0) { /* the CLI is gone: it reads the exit file */ }
  close(done_fd);
  if (container_mnt >= 0) close(container_mnt);
  if (o->n_then > 0) {
    o->then[o->n_then] = NULL;
    char *env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); }
    reset_signals();
    execve(o->then[0], o->then, env);
  }
  return status_code(st);
}

static int do_exec(struct opts *o) {
  if (o->cgroup_self) join_cgroups_self(o);
  else join_cgroups(o, getpid());
  close_cgroup_fds(o);
  if (o->mntns_fd >= 0) {
    if (setns(o->mntns_fd, CLONE_NEWNS) < 0) die("setns(mnt)");
    close(o->mntns_fd);
  }
  if (o->ctl_fd >= 0) close(o->ctl_fd);
  ctl = -1;
  become_payload(o, -1, 0);
  return 125;
}

// --- a shim started ahead ------------------------------------------------------------------------

// `strata-shim await-plan`: started by the warm daemon before any container needs it, with only its
// control socket (fd 3), so that a run's path has no process to spawn (docs/native-backend.md). The
// plan comes as "plan LEN\n" and LEN bytes of NUL-terminated fields: the number of fds, then for
// each its number here, open flags and a path to open (the daemon's /proc/PID/fd/N: files, dirs,
// pipes, ttys and namespaces reopen as themselves); the number of arguments and the command line a
// spawned shim would have had; the number of environment entries and the payload's environment.
// Fields are read with bounds checks; anything malformed ends the shim with 125 and no side effect.

// The plan's fds go to 0-2 and 4 up (MAX_FDS of them at most), opened first above that; the host's
// namespaces wait above both. All well under the default limit of 1024 open files.
#define PLAN_MAX_TARGET 63
#define HOST_NS_FDS_FROM 128

static char *plan_field(char **cur, char *end) {
  char *f = *cur;
  char *nul = memchr(f, 0, (size_t)(end - f));
  if (nul == NULL) { fprintf(stderr, "strata-shim: malformed plan\n"); _exit(125); }
  *cur = nul + 1;
  return f;
}

static long plan_count(char **cur, char *end, long max) {
  char *f = plan_field(cur, end), *stop = NULL;
  long n = strtol(f, &stop, 10);
  if (*f == 0 || *stop != 0 || n < 0 || n > max) { fprintf(stderr, "strata-shim: malformed plan\n"); _exit(125); }
  return n;
}

static void read_exactly(int fd, char *buf, size_t len) {
  for (size_t off = 0; off < len;) {
    ssize_t r = read(fd, buf + off, len - off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) _exit(125);  // the daemon went away before it had a container for this shim
    off += (size_t)r;
  }
}

extern char **environ;

static void await_plan(int *argc, char ***argv) {
  int fl = fcntl(3, F_GETFL);
  if (fl < 0) _exit(125);
  if (fl & O_NONBLOCK) fcntl(3, F_SETFL, fl & ~O_NONBLOCK);
  char hdr[32];
  size_t n = 0;
  for (;;) {
    if (n == sizeof hdr - 1) _exit(125);
    read_exactly(3, hdr + n, 1);
    if (hdr[n] == '\n') break;
    n++;
  }
  hdr[n] = 0;
  char *stop = NULL;
  unsigned long len = strncmp(hdr, "plan ", 5) == 0 ? strtoul(hdr + 5, &stop, 10) : 0;
  if (len == 0 || len > (1u << 24) || stop == NULL || *stop != 0) _exit(125);
  char *buf = malloc(len);
  if (buf == NULL) _exit(125);
  read_exactly(3, buf, len);
  char *cur = buf, *end = buf + len;
  // Each fd opened first to a number above every target, then moved down, so that no open lands
  // on a target still to be filled.
  long nfds = plan_count(&cur, end, MAX_FDS);
  int target[MAX_FDS], high[MAX_FDS];
  for (long i = 0; i < nfds; i++) {
    target[i] = (int)plan_count(&cur, end, PLAN_MAX_TARGET);
    int flags = (int)plan_count(&cur, end, 0x7fffffff);
    const char *path = plan_field(&cur, end);
    if (target[i] == 3) { errno = EINVAL; die("plan: fd 3 is the control socket"); }
    // O_NONBLOCK for the open only: a pipe whose reader is gone then fails (ENXIO) instead of
    // blocking this shim, and the run with it.
    int fd = open(path, flags | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) die(path);
    if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) die("plan: F_SETFL");
    high[i] = fcntl(fd, F_DUPFD_CLOEXEC, PLAN_MAX_TARGET + 1);
    if (high[i] < 0) die("plan: F_DUPFD");
    close(fd);
  }
  for (long i = 0; i < nfds; i++) {
    if (dup2(high[i], target[i]) < 0) die("plan: dup2");
    close(high[i]);
  }
  long nargs = plan_count(&cur, end, 1 << 20);
  char **args = calloc((size_t)nargs + 1, sizeof *args);
  if (args == NULL) _exit(125);
  for (long i = 0; i < nargs; i++) args[i] = plan_field(&cur, end);
  long nenv = plan_count(&cur, end, 1 << 20);
  char **env = calloc((size_t)nenv + 1, sizeof *env);
  if (env == NULL) _exit(125);
  for (long i = 0; i < nenv; i++) env[i] = plan_field(&cur, end);
  if (cur != end) { fprintf(stderr, "strata-shim: malformed plan\n"); _exit(125); }
  // The payload's environment, as a spawned shim's own would have been (execvp reads it too).
  environ = env;
  *argc = (int)nargs;
  *argv = args;
}

int main(int argc, char **argv) {
  struct opts o;
  int host_ns[8];  // a shim started ahead: the host's namespaces, opened before it left any
  int n_host_ns = 0;
  int ahead = 0;
  if (argc == 2 && strcmp(argv[1], "await-plan") == 0) {
    ctl = 3;  // errors while the plan is carried out go to the daemon
    // Not dumpable from the start, as below: this process waits, root, for a container to enter.
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) die("PR_SET_DUMPABLE");
    n_host_ns = open_host_namespaces(host_ns);
    // Out of the way of the fds the plan puts at 4, 5, ... and of its temporaries above them.
    for (int i = 0; i < n_host_ns; i++) {
      int high = fcntl(host_ns[i], F_DUPFD_CLOEXEC, HOST_NS_FDS_FROM);
      if (high < 0) die("F_DUPFD");
      close(host_ns[i]);
      host_ns[i] = high;
    }
    // Every container gets these: made while waiting, off a run's path.
    ahead = setup_ahead();
    await_plan(&argc, &argv);
  }
  parse(argc, argv, &o);
  if (ahead) {
    memcpy(o.host_ns_fds, host_ns, sizeof host_ns);
    o.n_host_ns = n_host_ns;
    // A plan that is no run goes back to the host's namespaces (host_ns_fds: mnt, uts, ipc, ...).
    int keep = o.run_mode ? ahead : 0;
    if ((ahead & ~keep & CLONE_NEWUTS) && setns(o.host_ns_fds[1], CLONE_NEWUTS) < 0) die("setns(host uts)");
    if ((ahead & ~keep & CLONE_NEWIPC) && setns(o.host_ns_fds[2], CLONE_NEWIPC) < 0) die("setns(host ipc)");
    o.setup.ahead = keep;
    if (!o.run_mode) {
      for (int i = 0; i < o.n_host_ns; i++) close(o.host_ns_fds[i]);
      o.n_host_ns = 0;
    }
  }
  ctl = o.ctl_fd;
  // The warm daemon's client hands over a socket of its own, non-blocking (cli/src/client.ts).
  if (ctl >= 0) {
    int fl = fcntl(ctl, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(ctl, F_SETFL, fl & ~O_NONBLOCK);
  }
  // Until execve replaces this image, /proc/PID/exe of the shim is the host's strata-shim binary and
  // a container process watching /proc could open it (CVE-2019-5736). Not dumpable, its /proc
  // entries need CAP_SYS_PTRACE in the host's user namespace; execve makes the payload dumpable again.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) die("PR_SET_DUMPABLE");
  // Started by posix_spawn (the warm daemon), glibc's child leaves glibc's own two signals (32 and 33)
  // ignored, and an exec keeps an ignored signal: back to default with the raw syscall, which
  // glibc's sigaction refuses for them. The payload then starts with no signal ignored, as runc's.
  for (int sig = 32; sig <= 33; sig++) {
    struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } dfl = {0};
    syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
  }
  signal(SIGPIPE, SIG_IGN);
  if (o.seccomp_fd >= 0) build_seccomp(o.seccomp_fd, &o.conf);
  if (o.export_fd >= 0) {
    int r = seccomp_ctx ? seccomp_export_bpf(seccomp_ctx, o.export_fd) : -EINVAL;
    if (r < 0) seccomp_fail(r, "seccomp_export_bpf");
    return 0;
  }
  export_seccomp(&o.conf);
  if (!o.run_mode) return do_exec(&o);
  // The monitor stays outside the container; it forwards what it is sent to the payload.
  int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
  for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    sigaction(fwd[i], &sa, NULL);
  }
  prctl(PR_SET_PDEATHSIG, 0);
  return do_run(&o);
}
