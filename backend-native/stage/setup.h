// setup: the container's filesystem and namespaces, made by the run shim itself (strata-shim.c):
// the overlay on the host, then new mount/UTS/IPC(/net) namespaces with the spec's mounts,
// devices, hostname and loopback, and at the end pivot_root into the rootfs. The CLI computes the
// plan (runtime.ts) and passes it as flags; doing it here keeps libc bindings (koffi) and a second
// round of path lookups off every `strata run` (docs/native-backend.md).
#ifndef STRATA_SETUP_H
#define STRATA_SETUP_H

#include <sys/types.h>

#define SETUP_MAX_MOUNTS 128
#define SETUP_MAX_DEVICES 1024
#define SETUP_MAX_LINKS 16

struct setup_mount {
  const char *type;  // "bind" or a filesystem type; "proc" only makes the mount point (PID 1 mounts it)
  const char *source;
  const char *dest;  // a container path, resolved inside the rootfs
  const char *data;  // NULL for none
  unsigned long flags, propagation;
};

struct setup_device {
  char kind;  // 'c' or 'b'
  mode_t mode;
  unsigned major, minor;
  long uid, gid;  // -1: leave as created
  const char *path;
};

struct setup {
  const char *rootfs;   // --rootfs: the merged dir on the host
  const char *overlay;  // --overlay: its mount data (lowerdir=...,upperdir=...,workdir=...)
  const char *mkdir;    // --mkdir: the workdir, created inside the rootfs if missing
  int unshare_net;      // --unshare-net: a new network namespace
  int join_net_fd;      // --join-net-fd: or another's (--net container:)
  int lo_up;            // --lo-up
  int readonly;         // --readonly-rootfs
  int bind_devices;     // --bind-devices: bind the host's nodes (a user namespace may not mknod)
  int alloc_tty;        // --alloc-tty: a pty from the container's devpts for PID 1
  const char *hostname;
  int ahead;              // CLONE_NEW* namespaces this process entered before its plan (setup_ahead)
  struct setup_mount mounts[SETUP_MAX_MOUNTS];
  int n_mounts;
  struct setup_device devices[SETUP_MAX_DEVICES];
  int n_devices;
  const char *links[SETUP_MAX_LINKS][2];  // target, path
  int n_links;
  // Results, for the shim.
  int rootfd;             // O_PATH of the rootfs in the container's mount namespace
  char proc_path[64];     // where PID 1 mounts /proc ("" for none): /proc/self/fd/N
  int master, slave;      // the pty, with --alloc-tty
};

// Every function returns 0, or -1 with errno set and setup_error naming what failed.
extern const char *setup_error;

void setup_init(struct setup *s);
// Parses one setup flag at argv[*i], advancing *i past its values. Returns 1 if it was one.
int setup_flag(struct setup *s, int argc, char **argv, int *i);
// What a shim started before its plan can make already: new UTS, IPC and network namespaces with
// lo up. Returns the CLONE_NEW* flags it entered (0 if it could not: the plan's setup does it).
int setup_ahead(void);
// Everything up to the payload's own process: overlay, namespaces, mounts, devices, hostname, lo.
int setup_container(struct setup *s);
// pivot_root into the rootfs and detach the host's tree (every task of the namespace moves).
int setup_pivot(struct setup *s);

#endif
