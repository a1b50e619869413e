// strata-userns: rootless mode's single-threaded stage (docs/rootless.md).
//
// Node cannot unshare(CLONE_NEWUSER) nor setns() into a user namespace: it is multithreaded. So an
// unprivileged `strata` starts this program, which either joins the user and mount namespaces kept
// alive by a pause process (as podman's catatonit -P), or makes new ones:
//
//   1. unshare(CLONE_NEWUSER | CLONE_NEWNS); tell the caller on the sync fd ("u\n") and wait for
//      "m", the caller having written uid_map/gid_map with newuidmap/newgidmap (setuid helpers that
//      grant the subordinate ranges of /etc/subuid and /etc/subgid);
//   2. fork the pause process: it holds the namespaces for later commands, writing its PID to the
//      pidfile, and sleeps;
//   3. become root of the namespace and execvp the command (the strata CLI again, now as "root").
//
// Usage: strata-userns --sync-fd N --pidfile PATH -- cmd args...
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "strata-userns: %s: %s\n", what, strerror(errno));
  _exit(125);
}

static int join_existing(const char *pidfile) {
  char buf[32] = {0};
  int fd = open(pidfile, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  int pid = atoi(buf);
  if (pid <= 0 || kill(pid, 0) < 0) return 0;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
  int userfd = open(path, O_RDONLY | O_CLOEXEC);
  snprintf(path, sizeof path, "/proc/%d/ns/mnt", pid);
  int mntfd = open(path, O_RDONLY | O_CLOEXEC);
  if (userfd < 0 || mntfd < 0) return 0;
  // The pause process may belong to another user: only our own namespaces can be joined.
  if (setns(userfd, CLONE_NEWUSER) < 0) return 0;
  if (setns(mntfd, CLONE_NEWNS) < 0) die("setns(mnt) of the pause process");
  close(userfd);
  close(mntfd);
  return 1;
}

static void pause_forever(const char *pidfile) {
  setsid();
  for (int s = 1; s < NSIG; s++) signal(s, SIG_IGN);
  signal(SIGKILL, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
  }
  close_range(3, ~0U, 0);
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", pidfile);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) {
    dprintf(fd, "%d\n", (int)getpid());
    close(fd);
    rename(tmp, pidfile);
  }
  prctl(PR_SET_NAME, "strata-pause");
  for (;;) pause();
}

int main(int argc, char **argv) {
  int sync = -1;
  const char *pidfile = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "--sync-fd") == 0 && i + 1 < argc) sync = atoi(argv[++i]);
    else if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc) pidfile = argv[++i];
    else { fprintf(stderr, "strata-userns: unknown flag %s\n", argv[i]); _exit(125); }
  }
  if (sync < 0 || pidfile == NULL || i >= argc) {
    fprintf(stderr, "usage: strata-userns --sync-fd N --pidfile PATH -- cmd...\n");
    _exit(125);
  }
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) == NULL) strcpy(cwd, "/");
  if (join_existing(pidfile)) {
    if (write(sync, "j\n", 2) != 2) die("sync");
  } else {
    unlink(pidfile);  // a stale one (its pause process is gone)
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) die("unshare(CLONE_NEWUSER|CLONE_NEWNS)");
    if (write(sync, "u\n", 2) != 2) die("sync");
    char c = 0;
    if (read(sync, &c, 1) != 1 || c != 'm') {
      fprintf(stderr, "strata-userns: the ID maps were not written\n");
      _exit(125);
    }
    pid_t p = fork();
    if (p < 0) die("fork pause process");
    if (p == 0) pause_forever(pidfile);
    // Wait until the pause process has published itself, so the next command can join it.
    for (int tries = 0; tries < 500; tries++) {
      struct stat st;
      if (stat(pidfile, &st) == 0) break;
      usleep(1000);
    }
  }
  close(sync);
  // Joining a mount namespace moves us to its root: go back where the user ran strata from.
  if (chdir(cwd) < 0 && chdir("/") < 0) die("chdir");
  if (setresgid(0, 0, 0) < 0) die("setresgid(0)");
  if (setresuid(0, 0, 0) < 0) die("setresuid(0)");
  execvp(argv[i], &argv[i]);
  die(argv[i]);
  return 125;
}
