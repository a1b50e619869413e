// `strata-confine run`: a whole emu container from one plan (docs/emulator.md), as the native shim's
// run mode: every busybox fork+exec costs milliseconds in the emulated CPU, and a container start
// was about twenty of them. The filesystem and namespaces are backend-native/stage/setup.c's (the
// same flags, from the same plan builder: shared/src/run-plan.ts), the confinement confine.c's.
//
//   L (the agent's request, this process): forks M and copies M's report lines to stdout until M
//     closes the report pipe: "monitor PID", "pid PID", then "ok" or "error CODE MESSAGE".
//   M (monitor, own session): cgroup and limits, the stdio files, setup_container() (overlay in the
//     guest's mount namespace, new mount/UTS/IPC/net namespaces, the spec's mounts, devices, links,
//     hostname, lo), clones P into a new PID namespace, pivot_root, back to the guest's mount
//     namespace, moves P into the cgroup and releases it. Then it waits for P, unmounts the rootfs,
//     removes the cgroup and last writes the exit file (code, signal, finished, oom, end=1: the
//     host takes it once end=1 is there, and has nothing left to clean up in the guest).
//   P (PID 1): mounts /proc, masked and read-only paths, the user from the container's /etc/passwd,
//     credentials, cwd, seccomp, execvp with the container's environment (or, with --init, forks
//     the payload and reaps, confined as the payload, as the native shim's init).
//
// Usage: strata-confine run [setup.h flags] [confine.h flags] [--seccomp FILE] [--user SPEC]
//   [--argv0 NAME] [--cwd DIR] [--env K=V]... [--init] [--cgroup DIR] [--cgroup-set FILE VALUE]...
//   [--cgroup-opt FILE VALUE]... [--stdin FILE] [--stdout FILE --stderr FILE | --log FILE]
//   [--exit FILE] [--remove FILE]... [--trace] -- CMD ARGS...
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "confine.h"
#include "guest-stage.h"
#include "setup.h"

#define MAX_SETS 16
#define MAX_ENV 512
#define MAX_REMOVE 8

static int trace_on;  // --trace: each step's time on stderr (the request's), for STRATA_TRACE=1

static void trace(const char *what) {
  static struct timespec t0;
  if (!trace_on) return;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  if (t0.tv_sec == 0) t0 = t;
  dprintf(2, "stage %d %.1f ms: %s\n", (int)getpid(),
          (double)(t.tv_sec - t0.tv_sec) * 1e3 + (double)(t.tv_nsec - t0.tv_nsec) / 1e6, what);
}

struct run {
  struct setup setup;
  struct confine conf;
  const char *cgroup;
  const char *sets[MAX_SETS][2];
  int optional[MAX_SETS];
  int n_sets;
  const char *in, *out, *err, *log, *exit_file, *seccomp, *user, *argv0, *cwd;
  const char *remove[MAX_REMOVE];
  int n_remove;
  char *env[MAX_ENV + 1];
  int n_env;
  int init;
  char **argv;
};

// A failure of M's own steps: "error 125 WHAT: REASON", then exit (the host cleans up).
static void die(const char *what) {
  int e = errno;
  if (report_fd >= 0) dprintf(report_fd, "error 125 %s: %s\n", what, strerror(e));
  _exit(125);
}

static const char *lower(const char *s) {
  static char buf[128];
  snprintf(buf, sizeof buf, "%s", s);
  if (buf[0] >= 'A' && buf[0] <= 'Z') buf[0] = (char)(buf[0] - 'A' + 'a');
  return buf;
}

static void parse(struct run *r, int argc, char **argv) {
  memset(r, 0, sizeof *r);
  setup_init(&r->setup);
  r->cwd = "/";
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : "";
    const char *w = i + 2 < argc ? argv[i + 2] : "";
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (setup_flag(&r->setup, argc, argv, &i) || confine_flag(&r->conf, argc, argv, &i)) continue;
    if (strcmp(a, "--init") == 0) r->init = 1;
    else if (strcmp(a, "--trace") == 0) trace_on = 1;
    else if ((strcmp(a, "--cgroup-set") == 0 || strcmp(a, "--cgroup-opt") == 0) && r->n_sets < MAX_SETS) {
      r->optional[r->n_sets] = a[10] == 'o';
      r->sets[r->n_sets][0] = v;
      r->sets[r->n_sets++][1] = w;
      i += 2;
    } else if (strcmp(a, "--env") == 0 && r->n_env < MAX_ENV) r->env[r->n_env++] = argv[++i];
    else if (strcmp(a, "--remove") == 0 && r->n_remove < MAX_REMOVE) r->remove[r->n_remove++] = argv[++i];
    else if (strcmp(a, "--cgroup") == 0) r->cgroup = v, i++;
    else if (strcmp(a, "--stdin") == 0) r->in = v, i++;
    else if (strcmp(a, "--stdout") == 0) r->out = v, i++;
    else if (strcmp(a, "--stderr") == 0) r->err = v, i++;
    else if (strcmp(a, "--log") == 0) r->log = v, i++;
    else if (strcmp(a, "--exit") == 0) r->exit_file = v, i++;
    else if (strcmp(a, "--seccomp") == 0) r->seccomp = v, i++;
    else if (strcmp(a, "--user") == 0) r->user = v, i++;
    else if (strcmp(a, "--argv0") == 0) r->argv0 = v, i++;
    else if (strcmp(a, "--cwd") == 0) r->cwd = v, i++;
    else {
      errno = EINVAL;
      fail(a);
    }
  }
  if (i >= argc) {
    errno = EINVAL;
    fail("no command");
  }
  r->env[r->n_env] = NULL;
  r->argv = &argv[i];
}

static int open_or_die(const char *path, int flags) {
  int fd = open(path, flags | O_CLOEXEC, 0644);
  if (fd < 0) die(path);
  return fd;
}

static void write_or_die(const char *dir, const char *file, const char *value, int optional) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 && optional && errno == ENOENT) return;
  if (fd < 0 || write(fd, value, strlen(value)) < 0) {
    char what[600];
    snprintf(what, sizeof what, "cgroup limit %s=%s", file, value);
    die(what);
  }
  close(fd);
}

// The payload's error as the native backend words it (backend-native/src/runtime.ts execFailure).
static void exec_failed(const char *file) {
  int e = errno;
  if (e == ENOENT || e == ENOTDIR) {
    if (strchr(file, '/')) dprintf(report_fd, "error 127 stat %s: no such file or directory\n", file);
    else dprintf(report_fd, "error 127 exec: \"%s\": executable file not found in $PATH\n", file);
    _exit(127);
  }
  dprintf(report_fd, "error 126 exec %s: %s\n", file, lower(strerror(e)));
  _exit(126);
}

// P, or with --init its child: credentials, cwd, fds, seccomp, execvp. `confined`: already done.
static void become_payload(struct run *r, int confined) {
  if (setsid() < 0 && errno != EPERM) fail("setsid");
  if (!confined && confine_credentials(&r->conf) < 0) fail(confine_error);
  if (chdir(r->cwd) < 0) {
    dprintf(report_fd, "error 126 chdir to cwd (\"%s\") set in config.json failed: %s\n", r->cwd,
            lower(strerror(errno)));
    _exit(126);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  // Nothing the stage holds reaches the payload but stdio (the report fd closes on execve).
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) fail("close_range");
  if (!confined && confine_seccomp(&r->conf) < 0) fail(confine_error);
  const char *file = r->argv[0];
  if (r->argv0) r->argv[0] = (char *)r->argv0;
  environ = r->env;
  execvp(file, r->argv);
  exec_failed(file);
}

static int status_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 255;
}

// --init: PID 1 forwards signals to the payload and reaps, confined as the payload (docker-init).
static void run_as_init(struct run *r) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  if (confine_credentials(&r->conf) < 0 || confine_seccomp(&r->conf) < 0) fail(confine_error);
  pid_t child = fork();
  if (child < 0) fail("fork payload");
  if (child == 0) become_payload(r, 1);
  close(report_fd);
  report_fd = -1;
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0)
      if (p == child) _exit(status_code(st));
  }
}

static long oom_kills(int fd) {
  char buf[1024];
  ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char *k = strstr(buf, "oom_kill ");
  return k ? strtol(k + 9, NULL, 10) : 0;
}

static void write_exit(const struct run *r, int st, struct timespec ts, int oom) {
  if (!r->exit_file) return;
  char buf[200];
  int n = snprintf(buf, sizeof buf, "code=%d\nsignal=%d\nfinished=%lld.%09ld\noom=%d\nend=1\n", status_code(st),
                   WIFSIGNALED(st) ? WTERMSIG(st) : 0, (long long)ts.tv_sec, ts.tv_nsec, oom);
  // One write into a fresh file: the host takes it only with its end=1 line.
  int fd = open(r->exit_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0 && write(fd, buf, (size_t)n) < 0) { /* the host sees no exit: status stays running */ }
  if (fd >= 0) close(fd);
}

static void monitor(struct run *r) {
  struct setup *su = &r->setup;
  if (setsid() < 0) die("setsid");
  dprintf(report_fd, "monitor %d\n", (int)getpid());
  trace("monitor");
  if (r->seccomp) read_bpf(&r->conf, r->seccomp);
  trace("seccomp program read");
  int procs = -1, oom = -1;
  if (r->cgroup) {
    if (mkdir(r->cgroup, 0755) < 0 && errno != EEXIST) die("creating the cgroup");
    for (int i = 0; i < r->n_sets; i++) write_or_die(r->cgroup, r->sets[i][0], r->sets[i][1], r->optional[i]);
    char p[512];
    snprintf(p, sizeof p, "%s/cgroup.procs", r->cgroup);
    procs = open_or_die(p, O_WRONLY);
    snprintf(p, sizeof p, "%s/memory.events", r->cgroup);
    oom = open(p, O_RDONLY | O_CLOEXEC);
  }
  int in = open_or_die(r->in ? r->in : "/dev/null", O_RDONLY);
  int out = open_or_die(r->log ? r->log : r->out ? r->out : "/dev/null", O_WRONLY | O_CREAT | (r->log ? O_APPEND : O_TRUNC));
  int err = r->log ? out : open_or_die(r->err ? r->err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC);
  int guest_mnt = open_or_die("/proc/self/ns/mnt", O_RDONLY);
  trace("cgroup and stdio");
  if (setup_container(su) < 0) die(setup_error);
  trace("setup_container");

  int release[2], errp[2], ready[2];
  if (pipe2(release, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0) die("pipe");
  // clone rather than unshare: only P enters the new PID namespace (as the native shim).
  pid_t child = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
  if (child < 0) die("clone(CLONE_NEWPID)");
  if (child == 0) {
    close(report_fd);  // L reads the report until every writer is gone
    report_fd = errp[1];
    close(release[1]);
    close(ready[0]);
    close(errp[0]);
    // The guest's mount namespace and the cgroup stay out of the container's reach.
    close(guest_mnt);
    if (procs >= 0) close(procs);
    if (oom >= 0) close(oom);
    if (su->proc_path[0] && mount("proc", su->proc_path, "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL) < 0)
      fail("mount /proc");
    trace("PID 1: /proc");
    if (write(ready[1], "p", 1) != 1) _exit(125);
    char c;
    if (read(release[0], &c, 1) != 1) _exit(125);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) fail("stdio");
    close(in);
    close(out);
    if (err != out) close(err);
    if (confine_paths(&r->conf) < 0) fail(confine_error);
    resolve_user(&r->conf, r->user ? r->user : "");
    if (r->init) run_as_init(r);
    become_payload(r, 0);
  }
  close(release[0]);
  close(errp[1]);
  close(ready[1]);
  char msg[600];
  char p = 0;
  if (read(ready[0], &p, 1) != 1) {
    ssize_t n = read(errp[0], msg, sizeof msg - 1);
    msg[n > 0 ? n : 0] = 0;
    if (n > 0) dprintf(report_fd, "%s", msg);
    else dprintf(report_fd, "error 125 PID 1 could not mount /proc in its new PID namespace\n");
    _exit(125);
  }
  // M and P into the rootfs, the guest's tree detached from the container's namespace; M back.
  trace("clone");
  if (setup_pivot(su) < 0) {
    kill(child, SIGKILL);
    die(setup_error);
  }
  trace("pivot_root");
  if (setns(guest_mnt, CLONE_NEWNS) < 0) die("setns(guest mnt)");
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%d\n", (int)child);
  if (procs >= 0 && write(procs, pid, (size_t)n) < 0) die("joining the cgroup");
  dprintf(report_fd, "pid %d\n", (int)child);
  trace("cgroup joined");
  if (write(release[1], "r", 1) != 1) die("release");
  ssize_t m = read(errp[0], msg, sizeof msg - 1);
  trace("payload exec'd");
  if (m > 0) {
    msg[m] = 0;
    dprintf(report_fd, "%s", msg);
  } else {
    dprintf(report_fd, "ok\n");
  }
  close(report_fd);
  report_fd = -1;
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) dup2(null, 0), dup2(null, 1), dup2(null, 2);
  int st = 0;
  trace_on = 0;  // stderr is /dev/null from here
  while (waitpid(child, &st, 0) < 0 && errno == EINTR) {}
  struct timespec ended;
  clock_gettime(CLOCK_REALTIME, &ended);
  int oomed = oom_kills(oom) > 0;
  // The guest's part of the cleanup before `exit`: once the host sees it, nothing is left to undo
  // (the runtime's cleanup then makes no request).
  umount2(su->rootfs, MNT_DETACH);
  // The PID namespace is gone, but its tasks may still be exiting for a moment.
  for (int t = 0; r->cgroup && t < 100 && rmdir(r->cgroup) < 0 && errno == EBUSY; t++) usleep(2000);
  for (int i = 0; i < r->n_remove; i++) unlink(r->remove[i]);
  write_exit(r, st, ended, oomed);
  _exit(0);
}

int run_main(int argc, char **argv) {
  // Until execve, /proc/PID/exe is the guest's binary: not dumpable (CVE-2019-5736, as the shim).
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) fail("PR_SET_DUMPABLE");
  struct run r;
  parse(&r, argc, argv);
  int rep[2];
  if (pipe2(rep, O_CLOEXEC) < 0) fail("pipe");
  pid_t m = fork();
  if (m < 0) fail("fork");
  if (m == 0) {
    close(rep[0]);
    report_fd = rep[1];
    monitor(&r);
  }
  close(rep[1]);
  char buf[512];
  for (;;) {
    ssize_t n = read(rep[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (write(1, buf, (size_t)n) < 0) break;
  }
  return 0;
}
