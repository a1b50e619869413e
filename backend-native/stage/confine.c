// confine: see confine.h. The order is runc's: paths while PID 1 still has CAP_SYS_ADMIN, then
// the bounding and ambient sets, the user, the remaining capability sets, no_new_privs, and the
// seccomp filter last.
#define _GNU_SOURCE
#include "confine.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

const char *confine_error = "";

static int fail(const char *what) {
  confine_error = what;
  return -1;
}

int confine_flag(struct confine *c, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  const char *v = *i + 1 < argc ? argv[*i + 1] : "";
  if (strcmp(a, "--no-new-privs") == 0) {
    c->nnp = 1;
    return 1;
  }
  if (strcmp(a, "--caps") == 0) {
    c->have_caps = 1;
    c->caps = strtoull(v, NULL, 16);
  } else if (strcmp(a, "--mask") == 0) {
    if (c->n_masked < CONFINE_MAX_PATHS) c->masked[c->n_masked++] = v;
  } else if (strcmp(a, "--ro-path") == 0) {
    if (c->n_ro < CONFINE_MAX_PATHS) c->ro_paths[c->n_ro++] = v;
  } else if (strcmp(a, "--uid") == 0) {
    c->uid = (uid_t)strtol(v, NULL, 10);
  } else if (strcmp(a, "--gid") == 0) {
    c->gid = (gid_t)strtol(v, NULL, 10);
  } else if (strcmp(a, "--group") == 0) {
    if (c->n_groups < CONFINE_MAX_GROUPS) c->groups[c->n_groups++] = (gid_t)strtol(v, NULL, 10);
  } else {
    return 0;
  }
  (*i)++;
  return 1;
}

int confine_set_bpf(struct confine *c, const void *prog, size_t len) {
  size_t n = len / sizeof(struct sock_filter);
  if (len % sizeof(struct sock_filter) != 0 || n == 0 || n > BPF_MAXINSNS) {
    errno = EINVAL;
    return fail("seccomp program");
  }
  struct sock_filter *copy = malloc(len);
  if (copy == NULL) return fail("seccomp program");
  memcpy(copy, prog, len);
  c->bpf = copy;
  c->bpf_len = (unsigned short)n;
  return 0;
}

// Docker's masked paths: a file gets /dev/null bound over it; binding a file onto a directory fails
// with ENOTDIR, and a directory gets an empty read-only tmpfs instead (as runc). Paths the kernel
// does not have are skipped.
static int mask_paths(const struct confine *c) {
  for (int i = 0; i < c->n_masked; i++) {
    const char *p = c->masked[i];
    if (mount("/dev/null", p, NULL, MS_BIND, NULL) == 0) continue;
    if (errno == ENOENT) continue;
    if (errno != ENOTDIR || mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0,mode=0755") < 0) return fail(p);
  }
  return 0;
}

// Docker's read-only paths: bind each onto itself, then remount the bind read-only, keeping the
// flags the mount under it has (a bind remount replaces nosuid/nodev/noexec too).
static int readonly_paths(const struct confine *c) {
  for (int i = 0; i < c->n_ro; i++) {
    const char *p = c->ro_paths[i];
    if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
      if (errno == ENOENT) continue;
      return fail(p);
    }
    struct statvfs sv;
    unsigned long keep = 0;
    if (statvfs(p, &sv) == 0) {
      if (sv.f_flag & ST_NOSUID) keep |= MS_NOSUID;
      if (sv.f_flag & ST_NODEV) keep |= MS_NODEV;
      if (sv.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
    }
    if (mount(p, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL) < 0) return fail(p);
  }
  return 0;
}

int confine_paths(const struct confine *c) {
  if (mask_paths(c) < 0) return -1;
  return readonly_paths(c);
}

int confine_seccomp(struct confine *c) {
  if (c->bpf == NULL) return 0;
  struct sock_fprog prog = {c->bpf_len, c->bpf};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) return fail("seccomp filter");
  free(c->bpf);
  c->bpf = NULL;
  return 0;
}

// Keep only `keep` in the bounding set. PR_CAPBSET_DROP needs CAP_SETPCAP, so this runs while the
// process still has every capability (before setuid and capset).
static int drop_bounding(uint64_t keep) {
  for (int cap = 0; cap < 64; cap++) {
    int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (r < 0) break;  // EINVAL past the kernel's last capability
    if (r == 1 && !(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
      return fail("drop capability");
  }
  return 0;
}

// Effective and permitted become what is kept of the permitted set, inheritable empty (as Docker
// since 2022: an inheritable set would hand capabilities to file-capability binaries).
static int set_caps(uint64_t keep) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) < 0) return fail("capget");
  uint64_t perm = (((uint64_t)d[1].permitted << 32) | d[0].permitted) & keep;
  for (int i = 0; i < 2; i++) {
    d[i].permitted = d[i].effective = (uint32_t)(perm >> (32 * i));
    d[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &h, d) < 0) return fail("capset");
  return 0;
}

// Credentials and capabilities, in the order that works: the bounding set first (needs
// CAP_SETPCAP), then groups, gid, uid (need CAP_SETGID/SETUID), then the other sets. setuid to a
// non-root uid without PR_SET_KEEPCAPS empties permitted and effective, and execve gives a non-root
// process no capabilities from the bounding set: a non-root --user ends with CapEff 0, as in Docker.
int confine_credentials(struct confine *c) {
  if (c->have_caps) {
    if (drop_bounding(c->caps) < 0) return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
      return fail("clear ambient");
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return fail("PR_SET_KEEPCAPS");
  }
  // Without no_new_privs only CAP_SYS_ADMIN may install a filter, and setuid may take it away: load
  // it now (Docker's profile allows what follows: setgroups, setuid, capset, chdir, execve).
  if (!c->nnp && confine_seccomp(c) < 0) return -1;
  if (setgroups((size_t)c->n_groups, c->groups) < 0) return fail("setgroups");
  if (setgid(c->gid) < 0) return fail("setgid");
  if (setuid(c->uid) < 0) return fail("setuid");
  if (c->have_caps && set_caps(c->caps) < 0) return -1;
  if (c->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return fail("PR_SET_NO_NEW_PRIVS");
  return 0;
}
