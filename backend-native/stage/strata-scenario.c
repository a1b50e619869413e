// strata-scenario: runs scenarios' system calls (docs/scenarios.md), one process per namespace of a
// scenario. The same program for both kernels: built static for the host by scripts/build.mjs (the
// native runner, backend-native/src/scenario-native.ts) and for i386 by images/guest/build.sh (the
// emu runner, backend-emu/src/emu-scenario.ts). Why C: the steps must run in a process that keeps
// working after pivot_root has taken every binary away, that is single-threaded (unshare(CLONE_NEWNS)
// refuses a process whose threads share its fs_struct) and whose every call is one syscall, so the
// errno reported is the kernel's own; the guest has no Python, and a static binary starts at once.
//
// Usage: strata-scenario JOBS WORLD. JOBS is text, one record a line, fields separated by spaces and
// percent-encoded (encodeURIComponent):
//   J                 a new job (a scenario)
//   L CALL...         a call writing the layers (any failure ends the job with an error)
//   S                 a new step; C CALL... a call of the current step (the first failure is its outcome)
//   T PATH            a tree to list at the end
// CALL is shared/src/scenario/plan.ts's Call, flattened (scenario-wire.ts). WORLD is an empty
// directory: each job mounts its own tmpfs there and pivots into it.
// Output (stdout), one JSON object a line, per job i: {"job":i,"tables":[...]} (the mountinfo of each
// process of the chain, outermost first, read by this process from /proc while they all wait),
// {"job":i,"outcomes":[...],"chain":[...],"trees":{...}} or {"job":i,"error":"..."}, then
// {"job":i,"status":N} (its wait status).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

// ---- a growable byte buffer, JSON strings ------------------------------------------------------

struct buf {
  char *p;
  size_t n, cap;
};

static void die(const char *what) {
  dprintf(2, "strata-scenario: %s: %s\n", what, strerror(errno));
  _exit(2);
}

static void bput(struct buf *b, const void *s, size_t len) {
  if (b->n + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + len + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) die("out of memory");
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
  b->p[b->n] = 0;
}

static void bputs(struct buf *b, const char *s) { bput(b, s, strlen(s)); }

static void bprintf(struct buf *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  bput(b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/** A JSON string; bytes from 0x80 pass as they are (the host reads the output as UTF-8). */
static void bjson(struct buf *b, const char *s, size_t len) {
  bputs(b, "\"");
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      bput(b, e, 2);
    } else if (c < 0x20) {
      bprintf(b, "\\u%04x", c);
    } else {
      bput(b, &s[i], 1);
    }
  }
  bputs(b, "\"");
}

static void emit(struct buf *b) {
  bputs(b, "\n");
  for (size_t at = 0; at < b->n;) {
    ssize_t w = write(1, b->p + at, b->n - at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("write");
    at += (size_t)w;
  }
  b->n = 0;
}

static const char *errname(int e) {
  static char tmp[16];
  const char *n = strerrorname_np(e);
  if (n) return n;
  snprintf(tmp, sizeof tmp, "E%d", e);
  return tmp;
}

// ---- SHA-256 (FIPS 180-4), for file contents in tree listings -----------------------------------

struct sha256 {
  uint32_t h[8];
  uint8_t block[64];
  size_t fill;
  uint64_t bytes;
};

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(struct sha256 *s, const uint8_t *p) {
  uint32_t w[64], a[8];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  memcpy(a, s->h, sizeof a);
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = a[7] + (ROR(a[4], 6) ^ ROR(a[4], 11) ^ ROR(a[4], 25)) + ((a[4] & a[5]) ^ (~a[4] & a[6])) + K[i] + w[i];
    uint32_t t2 = (ROR(a[0], 2) ^ ROR(a[0], 13) ^ ROR(a[0], 22)) + ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));
    memmove(a + 1, a, 7 * sizeof a[0]);
    a[4] += t1;
    a[0] = t1 + t2;
  }
  for (int i = 0; i < 8; i++) s->h[i] += a[i];
}

static void sha_init(struct sha256 *s) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, h0, sizeof h0);
  s->fill = 0;
  s->bytes = 0;
}

static void sha_update(struct sha256 *s, const uint8_t *p, size_t len) {
  s->bytes += len;
  while (len > 0) {
    size_t take = 64 - s->fill < len ? 64 - s->fill : len;
    memcpy(s->block + s->fill, p, take);
    s->fill += take;
    p += take;
    len -= take;
    if (s->fill == 64) {
      sha_block(s, s->block);
      s->fill = 0;
    }
  }
}

static void sha_hex(struct sha256 *s, char out[65]) {
  uint64_t bits = s->bytes * 8;
  uint8_t pad = 0x80, zero = 0, len[8];
  sha_update(s, &pad, 1);
  while (s->fill != 56) sha_update(s, &zero, 1);
  for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
  sha_update(s, len, 8);
  for (int i = 0; i < 8; i++) sprintf(out + 8 * i, "%08x", s->h[i]);
}

// ---- the jobs file ------------------------------------------------------------------------------

#define MAX_FIELDS 8

struct rec {
  char kind; /* J L S C T */
  int nf;
  char *f[MAX_FIELDS];
  size_t len[MAX_FIELDS];
  char *text; /* the call as written, for error messages */
};

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/** Percent-decoding in place; returns the length (a content may hold NUL bytes). */
static size_t decode(char *s) {
  char *o = s;
  for (char *i = s; *i; i++) {
    if (i[0] == '%' && hexval(i[1]) >= 0 && hexval(i[2]) >= 0) {
      *o++ = (char)(hexval(i[1]) << 4 | hexval(i[2]));
      i += 2;
    } else {
      *o++ = *i;
    }
  }
  *o = 0;
  return (size_t)(o - s);
}

static struct rec *parse(char *text, size_t *count) {
  size_t cap = 64, n = 0;
  struct rec *recs = malloc(cap * sizeof *recs);
  if (!recs) die("out of memory");
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (n == cap) {
      cap *= 2;
      recs = realloc(recs, cap * sizeof *recs);
      if (!recs) die("out of memory");
    }
    struct rec *r = &recs[n++];
    memset(r, 0, sizeof *r);
    r->kind = line[0];
    char *rest = line[1] == ' ' ? line + 2 : line + 1;
    r->text = strdup(rest);
    if (line[1] != ' ') continue;
    char *field;
    while ((field = strsep(&rest, " ")) && r->nf < MAX_FIELDS) {
      r->len[r->nf] = decode(field);
      r->f[r->nf++] = field;
    }
  }
  *count = n;
  return recs;
}

// ---- the calls -----------------------------------------------------------------------------------

struct state {
  int chain[256]; /* the step that made each process of the chain; -1 for the first */
  int depth;
  int step;
};

static const char *arg(const struct rec *r, int i) { return i < r->nf ? r->f[i] : ""; }
static unsigned long num(const struct rec *r, int i) { return strtoul(arg(r, i), NULL, 10); }
/** An empty field is a null pointer (a mount's fstype or data). */
static const char *opt(const struct rec *r, int i) { return *arg(r, i) ? arg(r, i) : NULL; }

static int mkdirp(const char *path) {
  char cur[4096];
  size_t n = 0;
  for (const char *p = path; *p;) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (n + len + 2 > sizeof cur) return ENAMETOOLONG;
    cur[n++] = '/';
    memcpy(cur + n, p, len);
    n += len;
    cur[n] = 0;
    p += len;
    if (mkdir(cur, 0755) == 0) continue;
    if (errno != EEXIST) return errno;
    struct stat st;
    if (stat(cur, &st) != 0) return errno;
    if (!S_ISDIR(st.st_mode)) return EEXIST;
  }
  return 0;
}

/** One call; 0 or the errno. `unshare` forks: the parent waits and exits, the child carries on. */
static int call(const struct rec *r, struct state *s) {
  const char *k = arg(r, 0);
  if (!strcmp(k, "mount"))
    return mount(arg(r, 1), arg(r, 2), opt(r, 3), num(r, 4), opt(r, 5)) ? errno : 0;
  if (!strcmp(k, "umount")) return umount2(arg(r, 1), num(r, 2) ? MNT_DETACH : 0) ? errno : 0;
  if (!strcmp(k, "unshare")) {
    pid_t pid = fork();
    if (pid < 0) return errno;
    if (pid > 0) {
      int status;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      _exit(status == 0 ? 0 : 1);
    }
    if (s->depth < 256) s->chain[s->depth++] = s->step;
    return unshare((int)num(r, 1)) ? errno : 0;
  }
  if (!strcmp(k, "pivot_root")) return syscall(SYS_pivot_root, arg(r, 1), arg(r, 2)) ? errno : 0;
  if (!strcmp(k, "chroot")) return chroot(arg(r, 1)) ? errno : 0;
  if (!strcmp(k, "chdir")) return chdir(arg(r, 1)) ? errno : 0;
  if (!strcmp(k, "write")) {
    int flags = O_WRONLY | O_CREAT | (num(r, 3) ? O_APPEND : O_TRUNC);
    int fd = open(arg(r, 1), flags, (mode_t)num(r, 4));
    if (fd < 0) return errno;
    for (size_t at = 0; at < r->len[2];) {
      ssize_t w = write(fd, r->f[2] + at, r->len[2] - at);
      if (w < 0) {
        int e = errno;
        close(fd);
        return e;
      }
      at += (size_t)w;
    }
    close(fd);
    return 0;
  }
  if (!strcmp(k, "unlink")) return unlink(arg(r, 1)) ? errno : 0;
  if (!strcmp(k, "rename")) return rename(arg(r, 1), arg(r, 2)) ? errno : 0;
  if (!strcmp(k, "mkdir")) return mkdir(arg(r, 1), (mode_t)num(r, 2)) ? errno : 0;
  if (!strcmp(k, "mkdirp")) return mkdirp(arg(r, 1));
  if (!strcmp(k, "rmdir")) return rmdir(arg(r, 1)) ? errno : 0;
  if (!strcmp(k, "chmod")) return chmod(arg(r, 1), (mode_t)num(r, 2)) ? errno : 0;
  if (!strcmp(k, "symlink")) return symlink(arg(r, 1), arg(r, 2)) ? errno : 0;
  if (!strcmp(k, "whiteout")) return mknod(arg(r, 1), S_IFCHR, makedev(0, 0)) ? errno : 0;
  if (!strcmp(k, "setxattr"))
    return lsetxattr(arg(r, 1), arg(r, 2), r->f[3], r->nf > 3 ? r->len[3] : 0, 0) ? errno : 0;
  dprintf(2, "strata-scenario: unknown call '%s'\n", k);
  _exit(2);
}

// ---- tree listings ----------------------------------------------------------------------------

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/** Lists `dir` (shown as `shown`) into `out` as JSON objects; 0 or the errno of the first failure. */
static int walk(const char *dir, const char *shown, struct buf *out) {
  DIR *d = opendir(dir);
  if (!d) return errno;
  size_t n = 0, cap = 16;
  char **names = malloc(cap * sizeof *names);
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (n == cap) names = realloc(names, (cap *= 2) * sizeof *names);
    names[n++] = strdup(e->d_name);
  }
  int err = errno;
  closedir(d);
  if (err) return err;
  qsort(names, n, sizeof *names, by_name);
  const char *sep = strcmp(dir, "/") ? "/" : "";
  const char *ssep = strcmp(shown, "/") ? "/" : "";
  for (size_t i = 0; i < n && !err; i++) {
    char p[4096], rp[4096];
    snprintf(p, sizeof p, "%s%s%s", dir, sep, names[i]);
    snprintf(rp, sizeof rp, "%s%s%s", shown, ssep, names[i]);
    struct stat st;
    if (lstat(p, &st) != 0) {
      err = errno;
      break;
    }
    if (out->n > 1) bputs(out, ",");
    bputs(out, "{\"path\":");
    bjson(out, rp, strlen(rp));
    bprintf(out, ",\"mode\":%u", (unsigned)(st.st_mode & 07777));
    if (S_ISDIR(st.st_mode)) {
      char v[2];
      ssize_t got = lgetxattr(p, "trusted.overlay.opaque", v, sizeof v);
      bprintf(out, ",\"kind\":\"dir\"%s}", got == 1 && v[0] == 'y' ? ",\"opaque\":true" : "");
      err = walk(p, rp, out);
    } else if (S_ISREG(st.st_mode)) {
      int fd = open(p, O_RDONLY);
      if (fd < 0) {
        err = errno;
        break;
      }
      struct sha256 h;
      sha_init(&h);
      uint8_t chunk[65536];
      ssize_t got;
      while ((got = read(fd, chunk, sizeof chunk)) > 0) sha_update(&h, chunk, (size_t)got);
      if (got < 0) err = errno;
      close(fd);
      uint64_t size = h.bytes;
      char hex[65];
      sha_hex(&h, hex);
      bprintf(out, ",\"kind\":\"file\",\"size\":%llu,\"sha256\":\"%s\"}", (unsigned long long)size, hex);
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t len = readlink(p, target, sizeof target);
      if (len < 0) {
        err = errno;
        break;
      }
      bputs(out, ",\"kind\":\"symlink\",\"target\":");
      bjson(out, target, (size_t)len);
      bprintf(out, ",\"size\":%zd}", len);
    } else {
      bprintf(out, ",\"kind\":\"chardev\",\"rdev\":\"%u:%u\"}", major(st.st_rdev), minor(st.st_rdev));
    }
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return err;
}

/** "path": [entries] or "path": "ERRNO". */
static void tree(const char *top, struct buf *out) {
  bjson(out, top, strlen(top));
  bputs(out, ":");
  struct stat st;
  struct buf list = {0};
  int err = stat(top, &st) != 0 ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR : 0;
  if (!err) {
    bputs(&list, "[");
    err = walk(top, "/", &list);
    bputs(&list, "]");
  }
  if (err) {
    bputs(out, "\"");
    bputs(out, errname(err));
    bputs(out, "\"");
  } else {
    bput(out, list.p, list.n);
  }
  free(list.p);
}

// ---- a job: the world, the layers, the steps, the report ----------------------------------------

static void job_error(int i, const char *what, const char *detail, int e) {
  struct buf b = {0};
  char msg[8192];
  snprintf(msg, sizeof msg, "%s: %s %s", what, detail, errname(e));
  bprintf(&b, "{\"job\":%d,\"error\":", i);
  bjson(&b, msg, strlen(msg));
  bputs(&b, "}");
  emit(&b);
  _exit(0);
}

/** The world: a private namespace whose root is a fresh tmpfs, nothing of the host left in it. */
static void enter_world(int i, const char *world) {
  char old[4096];
  snprintf(old, sizeof old, "%s/.old", world);
  if (unshare(CLONE_NEWNS)) job_error(i, "world", "unshare(CLONE_NEWNS)", errno);
  if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL)) job_error(i, "world", "make-rprivate /", errno);
  if (mount("scenario", world, "tmpfs", 0, NULL)) job_error(i, "world", "mount tmpfs", errno);
  if (mkdir(old, 0755)) job_error(i, "world", "mkdir .old", errno);
  if (syscall(SYS_pivot_root, world, old)) job_error(i, "world", "pivot_root", errno);
  if (chdir("/")) job_error(i, "world", "chdir /", errno);
  if (umount2("/.old", MNT_DETACH)) job_error(i, "world", "umount /.old", errno);
  if (rmdir("/.old")) job_error(i, "world", "rmdir /.old", errno);
}

static void run_job(int i, const struct rec *r, size_t n, const char *world, int ready, int go) {
  umask(0);
  enter_world(i, world);
  struct state s = {.chain = {-1}, .depth = 1, .step = -1};
  size_t steps = 0;
  for (size_t k = 0; k < n; k++) steps += r[k].kind == 'S';
  int *outcome = calloc(steps + 1, sizeof *outcome);
  for (size_t k = 0; k < n; k++) {
    if (r[k].kind == 'L') {
      int e = call(&r[k], &s);
      if (e) job_error(i, "layer setup", r[k].text, e);
    } else if (r[k].kind == 'S') {
      s.step++;
    } else if (r[k].kind == 'C' && s.step >= 0 && outcome[s.step] == 0) {
      outcome[s.step] = call(&r[k], &s);
    }
  }
  // The innermost process is ready: the batch's first process reads the chain's mount tables.
  char c = 'r';
  if (write(ready, &c, 1) != 1 || read(go, &c, 1) != 1) _exit(3);
  struct buf b = {0};
  bprintf(&b, "{\"job\":%d,\"outcomes\":[", i);
  for (size_t k = 0; k < steps; k++)
    bprintf(&b, "%s\"%s\"", k ? "," : "", outcome[k] ? errname(outcome[k]) : "ok");
  bputs(&b, "],\"chain\":[");
  for (int k = 0; k < s.depth; k++) {
    if (s.chain[k] < 0)
      bprintf(&b, "%snull", k ? "," : "");
    else
      bprintf(&b, "%s%d", k ? "," : "", s.chain[k]);
  }
  bputs(&b, "],\"trees\":{");
  int first = 1;
  for (size_t k = 0; k < n; k++) {
    if (r[k].kind != 'T') continue;
    if (!first) bputs(&b, ",");
    first = 0;
    tree(arg(&r[k], 0), &b);
  }
  bputs(&b, "}}");
  emit(&b);
  _exit(0);
}

static void read_file(const char *path, struct buf *out) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return;
  char chunk[8192];
  ssize_t got;
  while ((got = read(fd, chunk, sizeof chunk)) > 0) bput(out, chunk, (size_t)got);
  close(fd);
}

/** The mount table of each process of the chain below `top` (each waits on exactly one child). */
static void report_tables(int i, pid_t top) {
  struct buf b = {0};
  bprintf(&b, "{\"job\":%d,\"tables\":[", i);
  for (pid_t pid = top; pid > 0;) {
    char path[64];
    struct buf text = {0}, kids = {0};
    snprintf(path, sizeof path, "/proc/%d/mountinfo", pid);
    read_file(path, &text);
    if (pid != top) bputs(&b, ",");
    bjson(&b, text.p ? text.p : "", text.n);
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    read_file(path, &kids);
    pid = kids.p ? (pid_t)atoi(kids.p) : 0;
    free(text.p);
    free(kids.p);
  }
  bputs(&b, "]}");
  emit(&b);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    dprintf(2, "usage: strata-scenario JOBS WORLD\n");
    return 2;
  }
  struct buf text = {0};
  read_file(argv[1], &text);
  if (!text.p) die(argv[1]);
  size_t count;
  struct rec *recs = parse(text.p, &count);
  int job = -1;
  for (size_t at = 0; at < count; at++) {
    if (recs[at].kind != 'J') continue;
    size_t end = at + 1;
    while (end < count && recs[end].kind != 'J') end++;
    job++;
    int ready[2], go[2];
    if (pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC)) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      close(ready[0]);
      close(go[1]);
      run_job(job, recs + at + 1, end - at - 1, argv[2], ready[1], go[0]);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    // EOF instead: the job ended early (its error is on stdout already).
    if (read(ready[0], &c, 1) == 1) {
      report_tables(job, pid);
      if (write(go[1], "g", 1) != 1) die("write");
    }
    close(ready[0]);
    close(go[1]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
      if (errno != EINTR) die("waitpid");
    struct buf b = {0};
    bprintf(&b, "{\"job\":%d,\"status\":%d}", job, status);
    emit(&b);
    free(b.p);
    at = end - 1;
  }
  return 0;
}
