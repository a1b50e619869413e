// `strata-confine fs OP...`: the emu snapshotter's file operations in one process (docs/emulator.md).
// A snapshot's preparation or removal was four or five busybox commands (mkdir, ln, mv, chmod, rm,
// umount), each a fork+exec in the emulated CPU; this is one exec of the static stage. The ops run
// in order and the first failure ends it (as `set -e`), with "strata-confine fs: OP PATH: REASON".
//
//   --mkdir PATH MODE          mkdir -p (parents 0755), then PATH's mode
//   --write PATH MODE CONTENT  a file with CONTENT (replaced if it exists)
//   --symlink TARGET PATH
//   --rename FROM TO
//   --rmrf PATH                rm -rf (a missing PATH is not an error)
//   --umount PATH              umount -l (not mounted is not an error)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest-stage.h"

static void fs_fail(const char *op, const char *path) {
  fprintf(stderr, "strata-confine fs: %s %s: %s\n", op, path, strerror(errno));
  _exit(1);
}

// Each syscall walks its whole path, and in the emulated CPU a walk of a store path (8 to 10
// components) costs tens of thousands of instructions: the parents are made only when PATH's
// own mkdir says one is missing (a snapshot's preparation made ~100 mkdirs for ~15 directories).
static int mkdir_p(const char *path) {
  if (mkdir(path, 0755) == 0 || errno == EEXIST) return 0;
  if (errno != ENOENT) return -1;
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

// Empties the directory open as `dir` (closed here), depth first, every call relative to its
// directory's fd: nftw and remove() walked each entry's full path three times (stat, unlink,
// rmdir), the largest part of a snapshot's removal in the emulated CPU.
static int empty_dir(int dir) {
  DIR *d = fdopendir(dir);
  if (d == NULL) {
    close(dir);
    return -1;
  }
  int rc = 0;
  for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (unlinkat(dirfd(d), e->d_name, 0) == 0 || errno == ENOENT) continue;
    if (errno != EISDIR && errno != EPERM) {
      rc = -1;
      break;
    }
    int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0 || empty_dir(sub) < 0 || (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT))
      rc = -1;
  }
  closedir(d);
  return rc;
}

// rm -rf PATH: a missing PATH is not an error.
static int rm_rf(const char *path) {
  if (unlink(path) == 0 || errno == ENOENT) return 0;
  if (errno != EISDIR && errno != EPERM) return -1;
  // Entries made while it is emptied (none expected) are caught by a second pass.
  for (int pass = 0; pass < 3; pass++) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    if (empty_dir(fd) < 0) return -1;
    if (rmdir(path) == 0 || errno == ENOENT) return 0;
    if (errno != ENOTEMPTY) return -1;
  }
  return -1;
}

int fs_main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *op = argv[i];
    const char *a = i + 1 < argc ? argv[i + 1] : "", *b = i + 2 < argc ? argv[i + 2] : "";
    if (strcmp(op, "--mkdir") == 0 && i + 2 < argc) {
      if (mkdir_p(a) < 0 || chmod(a, (mode_t)strtoul(b, NULL, 8)) < 0) fs_fail("mkdir", a);
      i += 2;
    } else if (strcmp(op, "--write") == 0 && i + 3 < argc) {
      const char *content = argv[i + 3];
      size_t n = strlen(content);
      int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0 || (n > 0 && write(fd, content, n) != (ssize_t)n) || fchmod(fd, (mode_t)strtoul(b, NULL, 8)) < 0)
        fs_fail("write", a);
      close(fd);
      i += 3;
    } else if (strcmp(op, "--symlink") == 0 && i + 2 < argc) {
      if (symlink(a, b) < 0) fs_fail("symlink", b);
      i += 2;
    } else if (strcmp(op, "--rename") == 0 && i + 2 < argc) {
      if (rename(a, b) < 0) fs_fail("rename", a);
      i += 2;
    } else if (strcmp(op, "--rmrf") == 0 && i + 1 < argc) {
      if (rm_rf(a) < 0) fs_fail("rm -rf", a);
      i += 1;
    } else if (strcmp(op, "--umount") == 0 && i + 1 < argc) {
      umount2(a, MNT_DETACH);
      i += 1;
    } else {
      errno = EINVAL;
      fs_fail("bad operation", op);
    }
  }
  return 0;
}
