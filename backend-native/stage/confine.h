// confine: the confinement a container's payload gets just before execve (docs/security.md), shared
// by the native backend's shim (strata-shim.c) and the emulator guest's stage (images/guest, built
// for i386 without libseccomp). No libseccomp here: the seccomp filter arrives as a ready BPF
// program.
#ifndef STRATA_CONFINE_H
#define STRATA_CONFINE_H

#include <linux/filter.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFINE_MAX_PATHS 32
#define CONFINE_MAX_GROUPS 64

struct confine {
  int have_caps;  // --caps HEX: keep only these capabilities (bit numbers as in CapEff)
  uint64_t caps;
  int nnp;  // --no-new-privs
  const char *masked[CONFINE_MAX_PATHS];  // --mask: /dev/null or an empty read-only tmpfs over it
  int n_masked;
  const char *ro_paths[CONFINE_MAX_PATHS];  // --ro-path: bind-remounted read-only
  int n_ro;
  uid_t uid;
  gid_t gid;
  gid_t groups[CONFINE_MAX_GROUPS];
  int n_groups;
  struct sock_filter *bpf;  // the seccomp program, or NULL; loaded once, then NULL
  unsigned short bpf_len;
};

// Every function returns 0, or -1 with errno set and confine_error naming what failed.
extern const char *confine_error;

// Parses one confinement flag at argv[*i] (--caps, --no-new-privs, --mask, --ro-path, --uid,
// --gid, --group), advancing *i past its value. Returns 1 if it was one, 0 if not.
int confine_flag(struct confine *c, int argc, char **argv, int *i);

// A BPF program as the kernel takes it (struct sock_filter[]) from `len` bytes: copied.
int confine_set_bpf(struct confine *c, const void *prog, size_t len);

// Masked and read-only paths, over a freshly mounted /proc (and /sys); needs CAP_SYS_ADMIN.
int confine_paths(const struct confine *c);

// Capability sets, groups, gid, uid, no_new_privs (and the seccomp filter first when no_new_privs
// is off, while the process may still install it).
int confine_credentials(struct confine *c);

// The seccomp filter, if not loaded yet: call it last before execve.
int confine_seccomp(struct confine *c);

#endif
