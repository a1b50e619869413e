// The guest's stage (strata-confine, images/guest): what its modes share. confine-stage.c is the
// confinement in front of one payload (an exec); run-stage.c a whole container; fs-stage.c the
// snapshotter's file operations.
#ifndef STRATA_GUEST_STAGE_H
#define STRATA_GUEST_STAGE_H

#include "confine.h"

// Where "error CODE MESSAGE" lines go (the start's report), or -1.
extern int report_fd;
// Report "error 125 confinement: WHAT: strerror(errno)" (or MSG as it is) and _exit(125).
void fail(const char *what) __attribute__((noreturn));
void fail_msg(const char *msg) __attribute__((noreturn));
// Docker's USER[:GROUP] in the current root's /etc/passwd and /etc/group, into c's uid, gid, groups.
void resolve_user(struct confine *c, const char *spec);
// The seccomp program file (struct sock_filter[]) into c.
void read_bpf(struct confine *c, const char *file);
// `strata-confine run ...`: argv[0] is "run".
int run_main(int argc, char **argv);
// `strata-confine fs ...`: argv[0] is "fs".
int fs_main(int argc, char **argv);

#endif
