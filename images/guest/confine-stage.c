// strata-confine: the emulator guest's confinement stage (docs/emulator.md), built for i386 from
// the native shim's confine.c (backend-native/stage). The container's payload (and every exec) goes
// through it last, as through the shim on the native backend: masked and read-only paths (--paths,
// in the container's PID 1 only), capabilities, no_new_privs, the seccomp filter (a BPF program
// compiled on the build host: there is no libseccomp for i386 here), then execvp.
//
// Usage: strata-confine run ... (a whole container, run-stage.c), fs ... (file operations,
//        fs-stage.c), or
//        strata-confine [--paths] [--seccomp FILE] [--report-fd N] [--argv0 NAME] [--user SPEC]
//        [confine flags] -- CMD ARGS...
// --report-fd: the start's report channel; gets "ok" right before execve, or "error 125 ...".
// --user: Docker's USER[:GROUP], resolved in the container's /etc/passwd and /etc/group (the stage
// runs in the container's root), with the supplementary groups, as backend-native/src/users.ts.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confine.h"
#include "guest-stage.h"

int report_fd = -1;

void fail(const char *what) {
  int e = errno;
  fprintf(stderr, "strata-confine: %s: %s\n", what, strerror(e));
  if (report_fd >= 0) dprintf(report_fd, "error 125 confinement: %s: %s\n", what, strerror(e));
  _exit(125);
}

void fail_msg(const char *msg) {
  fprintf(stderr, "strata-confine: %s\n", msg);
  if (report_fd >= 0) dprintf(report_fd, "error 125 %s\n", msg);
  _exit(125);
}

static int numeric(const char *s) {
  if (*s == 0) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

// fgetpwent/fgetgrent read the files themselves: no NSS modules, which a static binary lacks.
void resolve_user(struct confine *c, const char *spec) {
  char buf[256], msg[400];
  snprintf(buf, sizeof buf, "%s", spec);
  char *group = strchr(buf, ':');
  if (group != NULL) *group++ = 0;
  const char *user = buf;
  char name[256] = "";
  c->uid = 0;
  c->gid = 0;
  int found = 0;
  FILE *f = fopen("/etc/passwd", "re");
  for (struct passwd *pw; f != NULL && (pw = fgetpwent(f)) != NULL;) {
    int match = *user == 0 ? pw->pw_uid == 0
                : numeric(user) ? pw->pw_uid == (uid_t)strtoul(user, NULL, 10)
                                : strcmp(pw->pw_name, user) == 0;
    if (!match) continue;
    if (*user) c->uid = pw->pw_uid, c->gid = pw->pw_gid;
    snprintf(name, sizeof name, "%s", pw->pw_name);
    found = 1;
    break;
  }
  if (f != NULL) fclose(f);
  if (*user && !found) {
    if (!numeric(user)) {
      snprintf(msg, sizeof msg, "unable to find user %s: no matching entries in passwd file", user);
      fail_msg(msg);
    }
    c->uid = (uid_t)strtoul(user, NULL, 10);
  }
  if (group != NULL && *group) {
    int gfound = 0;
    f = fopen("/etc/group", "re");
    for (struct group *gr; f != NULL && (gr = fgetgrent(f)) != NULL;) {
      if (numeric(group) ? gr->gr_gid == (gid_t)strtoul(group, NULL, 10) : strcmp(gr->gr_name, group) == 0) {
        c->gid = gr->gr_gid;
        gfound = 1;
        break;
      }
    }
    if (f != NULL) fclose(f);
    if (!gfound) {
      if (!numeric(group)) {
        snprintf(msg, sizeof msg, "unable to find group %s: no matching entries in group file", group);
        fail_msg(msg);
      }
      c->gid = (gid_t)strtoul(group, NULL, 10);
    }
  }
  // The primary group first, then those listing the user as a member (Docker's order).
  c->n_groups = 0;
  c->groups[c->n_groups++] = c->gid;
  f = *name ? fopen("/etc/group", "re") : NULL;
  for (struct group *gr; f != NULL && (gr = fgetgrent(f)) != NULL;) {
    int dup = 0;
    for (int k = 0; k < c->n_groups; k++) dup |= c->groups[k] == gr->gr_gid;
    for (char **m = gr->gr_mem; !dup && m && *m; m++) {
      if (strcmp(*m, name) == 0 && c->n_groups < CONFINE_MAX_GROUPS) {
        c->groups[c->n_groups++] = gr->gr_gid;
        break;
      }
    }
  }
  if (f != NULL) fclose(f);
}

// The whole BPF file (struct sock_filter[], as strata-shim --export-bpf-fd writes it).
void read_bpf(struct confine *c, const char *file) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) fail(file);
  char *buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
  if (buf == NULL || read(fd, buf, (size_t)st.st_size) != st.st_size) fail(file);
  close(fd);
  if (confine_set_bpf(c, buf, (size_t)st.st_size) < 0) fail(file);
  free(buf);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "run") == 0) return run_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "fs") == 0) return fs_main(argc - 1, argv + 1);
  // Until execve, /proc/PID/exe is the guest's binary: not dumpable, a container process cannot
  // open it or ptrace this process (CVE-2019-5736, as the native shim).
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) fail("PR_SET_DUMPABLE");
  struct confine c;
  memset(&c, 0, sizeof c);
  int paths = 0;
  const char *seccomp = NULL, *argv0 = NULL, *user = NULL;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (strcmp(a, "--") == 0) { i++; break; }
    if (confine_flag(&c, argc, argv, &i)) continue;
    if (strcmp(a, "--paths") == 0) paths = 1;
    else if (strcmp(a, "--seccomp") == 0) { seccomp = v; i++; }
    else if (strcmp(a, "--report-fd") == 0) { report_fd = atoi(v); i++; }
    else if (strcmp(a, "--argv0") == 0) { argv0 = v; i++; }
    else if (strcmp(a, "--user") == 0) { user = v; i++; }
    else { errno = EINVAL; fail(a); }
  }
  if (i >= argc) { errno = EINVAL; fail("no command"); }
  if (seccomp != NULL) read_bpf(&c, seccomp);
  if (paths && confine_paths(&c) < 0) fail(confine_error);
  if (user != NULL) resolve_user(&c, user);
  if (confine_credentials(&c) < 0) fail(confine_error);
  // Nothing the stage inherited reaches the payload but stdio (and the report fd until execve).
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) fail("close_range");
  if (confine_seccomp(&c) < 0) fail(confine_error);
  char **args = &argv[i];
  const char *file = args[0];
  if (argv0 != NULL) args[0] = (char *)argv0;
  if (report_fd >= 0 && write(report_fd, "ok\n", 3) != 3) fail("report");
  execvp(file, args);
  int e = errno;
  fprintf(stderr, "strata-confine: exec %s: %s\n", file, strerror(e));
  _exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}
