/* ckpt: the collective side of checkpoints — the save protocol (temporary directory, flush,
 * agreement, rename, latest, pruning), choosing the checkpoint to resume from, and loading on any
 * rank count. The files themselves are in ckpt_h5.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "ckpt_impl.h"
#include "nn_fs.h"
#include "nn_backend.h"
#include "nn_fault.h"
#include <time.h>

/* Collectives of checkpoint I/O wait for the slowest rank's file: their timeout is at least this. */
#define CKPT_TIMEOUT_S 1800.0

/* ---- agreement between ranks ---- */

/* Every rank learns whether any rank failed; all then return the first failing rank's status and
 * message (its own on that rank). */
static nn_status agree(struct comm *c, nn_status local) {
  double *f = calloc((size_t)c->size, sizeof *f);
  if (!f) return nn_fail(NN_ERR_OOM, "rank %d: out of memory", c->rank);
  f[c->rank] = (double)local;
  nn_status st = comm_allreduce_double(c, f, c->size);
  int q = -1;
  for (int r = 0; st == NN_OK && r < c->size && q < 0; r++)
    if (f[r] != 0) q = r;
  nn_status code = q >= 0 ? (nn_status)f[q] : NN_OK;
  free(f);
  if (st != NN_OK || q < 0) return st;
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", c->rank == q ? nn_errmsg() : "");
  NN_TRY(comm_bcast(c, msg, sizeof msg, q));
  return c->rank == q ? code : nn_fail(code, "%s", msg);
}

/* ---- the file system ---- */

static void step_path(char *out, size_t len, const char *dir, int64_t step) {
  snprintf(out, len, "%s/step_%08lld", dir, (long long)step);
}

/* The step of a directory name step_<digits> (with suffix sfx, "" for none), or -1. */
static int64_t step_of(const char *name, const char *sfx) {
  size_t l = strlen(name), k = strlen(sfx);
  if (strncmp(name, "step_", 5) != 0 || l <= 5 + k || strcmp(name + l - k, sfx) != 0) return -1;
  int64_t v = 0;
  for (const char *p = name + 5; p < name + l - k; p++) {
    if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (*p - '0');
  }
  return v;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

/* Remove a directory tree (no error if absent). */
static nn_status rm_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return NN_OK;
  if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    return nn_fail(NN_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
  return NN_OK;
}

/* ---- the lineage: checkpoints written by this run and the runs it resumed from ---- */

/* A run id is drawn at the first save of a run that did not resume (rank 0, broadcast); ckpt_load
 * adopts the loaded checkpoint's. seq counts the checkpoints written in the lineage. */
static struct {
  char run_id[40];
  int64_t seq;
} lineage;

void ckpt_lineage_reset(void) { memset(&lineage, 0, sizeof lineage); }

static void new_run_id(char *out, size_t len) {
  uint64_t x = 0;
  FILE *f = fopen("/dev/urandom", "rb");
  if (!f || fread(&x, sizeof x, 1, f) != 1) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    x = (uint64_t)ts.tv_nsec * 6364136223846793005ull ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 32);
  }
  if (f) fclose(f);
  snprintf(out, len, "%016llx", (unsigned long long)x);
}

static double wall_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One checkpoint directory found in a checkpoint root. */
struct found {
  char name[64];       /* step_00000004 or step_00000004.old */
  int64_t step, seq;
  double time;
  char run_id[40];
  int meta_ok;         /* meta.h5 readable */
  char why[256];       /* if not: why */
};

/* The checkpoint directories of root (step_N and step_N.old), meta.h5 read for each (malloc'd). */
static struct found *scan(const char *root, int *n) {
  *n = 0;
  DIR *d = opendir(root);
  if (!d) return NULL;
  struct found *v = NULL;
  int cap = 0;
  for (struct dirent *e; (e = readdir(d));) {
    int64_t s = step_of(e->d_name, "");
    if (s < 0) s = step_of(e->d_name, ".old");
    char p[CKPT_PATH];
    snprintf(p, sizeof p, "%s/%s", root, e->d_name);
    if (s < 0 || strlen(e->d_name) >= sizeof v->name || !is_dir(p)) continue;
    if (*n == cap) {
      struct found *w = realloc(v, sizeof *v * (size_t)(cap = cap ? 2 * cap : 16));
      if (!w) break;
      v = w;
    }
    struct found *f = &v[(*n)++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%.63s", e->d_name);
    f->step = s;
    struct ckpt_meta m;
    if (ckpt_meta_read(p, &m) == NN_OK) {
      f->meta_ok = 1;
      f->seq = m.s.seq;
      f->time = m.time;
      snprintf(f->run_id, sizeof f->run_id, "%s", m.s.run_id);
      ckpt_meta_free(&m);
    } else {
      snprintf(f->why, sizeof f->why, "%s", nn_errmsg());
    }
  }
  closedir(d);
  return v;
}

/* Newest first: written later, then higher sequence number, then higher step; a step_N before its .old. */
static int cmp_found(const void *a, const void *b) {
  const struct found *x = a, *y = b;
  if (x->time != y->time) return x->time < y->time ? 1 : -1;
  if (x->seq != y->seq) return x->seq < y->seq ? 1 : -1;
  if (x->step != y->step) return x->step < y->step ? 1 : -1;
  return strcmp(x->name, y->name);
}

/* The target name of root/latest into out ("" if there is none). */
static void latest_target(const char *root, char *out, size_t len) {
  char p[CKPT_PATH + 16];
  snprintf(p, sizeof p, "%s/latest", root);
  ssize_t k = readlink(p, out, len - 1);
  out[k > 0 ? k : 0] = 0;
}

/* ---- saving ---- */

/* Rank 0: create dir and an empty temporary directory tmp (a killed writer's leftovers removed); put
 * back a copy of this step that a killed re-save left as final.old; fail early, naming dir, if the
 * file system lacks the checkpoint's bytes. */
static nn_status prepare(const char *dir, const char *tmp, const char *final, int64_t bytes) {
  NN_TRY(nn_mkdirs(dir, "checkpoint"));
  char old[CKPT_PATH + 8];
  snprintf(old, sizeof old, "%s.old", final);
  if (!is_dir(final) && is_dir(old) && rename(old, final) != 0)
    return nn_fail(NN_ERR_IO, "cannot rename %s back to %s: %s", old, final, strerror(errno));
  NN_TRY(rm_tree(tmp));
  struct statvfs fs;
  if (statvfs(dir, &fs) == 0 && (double)fs.f_bavail * (double)fs.f_frsize < (double)bytes)
    return nn_fail(NN_ERR_IO, "%s: no room for a checkpoint of %.1f MB (%.1f MB free)", dir, bytes / 1e6,
                   (double)fs.f_bavail * (double)fs.f_frsize / 1e6);
  if (mkdir(tmp, 0777) != 0) return nn_fail(NN_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
  return NN_OK;
}

/* This rank's shard: its slice of every flat buffer; then its size and CRC-32 into *bytes, *crc. */
static nn_status write_shard(struct comm *c, const char *tmp, const struct ckpt_state *s, const struct nn_params *P,
                             const struct nn_optim *o, int64_t *bytes, uint32_t *crc) {
  const float *x[CKPT_NBUF] = {P->data, o ? o->m : NULL, o ? o->v : NULL};
  struct ckpt_slice sl[CKPT_NBUF];
  for (int b = 0; b < CKPT_NBUF; b++) {
    int64_t n = b == CKPT_PARAMS ? P->total : P->trainable;
    sl[b].total = n;
    sl[b].start = ckpt_slice_start(n, c->rank, c->size);
    sl[b].count = ckpt_slice_start(n, c->rank + 1, c->size) - sl[b].start;
    sl[b].x = x[b] ? x[b] + sl[b].start : NULL;
    if (b != CKPT_PARAMS && x[b]) { /* the optimizer's state covers [o->lo, o->hi) (ZeRO-1: this rank's share) */
      NN_ASSERT(o->lo <= sl[b].start && sl[b].start + sl[b].count <= o->hi,
                "rank %d: optimizer state [%lld, %lld) does not hold this rank's shard [%lld, +%lld)", c->rank,
                (long long)o->lo, (long long)o->hi, (long long)sl[b].start, (long long)sl[b].count);
      sl[b].x = x[b] + (sl[b].start - o->lo);
    }
  }
  NN_TRY(ckpt_shard_write(tmp, c->rank, c->size, s->step, sl, P->be));
  char path[CKPT_PATH];
  ckpt_shard_path(path, sizeof path, tmp, c->rank, c->size);
  return ckpt_file_crc(path, bytes, crc);
}

static nn_status write_meta(struct comm *c, const char *tmp, const struct ckpt_state *s, const struct nn_params *P,
                            const struct nn_optim *o, int64_t *bytes, uint32_t *crc) {
  struct ckpt_meta m;
  memset(&m, 0, sizeof m);
  m.s = *s;
  m.s.nranks = c->size;
  snprintf(m.s.run_id, sizeof m.s.run_id, "%s", lineage.run_id);
  m.s.seq = lineage.seq;
  m.time = wall_time();
  m.total = P->total;
  m.trainable = P->trainable;
  snprintf(m.optimizer, sizeof m.optimizer, "%s", o ? nn_optim_name(o->cfg.kind) : "none");
  m.opt_t = o ? o->t : 0;
  m.has[CKPT_PARAMS] = 1;
  m.has[CKPT_OPT_M] = o && o->m;
  m.has[CKPT_OPT_V] = o && o->v;
  m.table = P->p;
  m.n = P->n;
  m.shard_bytes = bytes;
  m.shard_crc = crc;
  return ckpt_meta_write(tmp, &m);
}

/* Rank 0: put back every step_N.old whose step_N is missing (a re-save killed between its two renames:
 * the old copy is the checkpoint), saying so on stderr. */
static nn_status restore_old(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return NN_OK;
  nn_status st = NN_OK;
  for (struct dirent *e; st == NN_OK && (e = readdir(d));) {
    if (step_of(e->d_name, ".old") < 0) continue;
    char p[CKPT_PATH], q[CKPT_PATH];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    snprintf(q, sizeof q, "%.*s", (int)(strlen(p) - 4), p);
    if (is_dir(q)) continue;
    if (rename(p, q) != 0) st = nn_fail(NN_ERR_IO, "cannot rename %s back to %s: %s", p, q, strerror(errno));
    else fprintf(stderr, "ckpt: %s was being replaced when its writer stopped: restored the previous copy from %s\n", q, p);
  }
  closedir(d);
  return st;
}

/* Rank 0: remove checkpoints of this lineage beyond the keep newest (never `final`), leftovers of killed
 * writers (*.tmp, *.del) and a replaced copy (step_N.old) once step_N is complete (if step_N is missing,
 * step_N.old is renamed back to it). A directory is first
 * renamed to *.del, so a kill while removing it never leaves a damaged step_N. Checkpoints of other runs
 * are not touched. */
static nn_status prune(const char *dir, const char *final, int64_t step, int keep) {
  NN_TRY(restore_old(dir));
  DIR *d = opendir(dir);
  if (!d) return nn_fail(NN_ERR_IO, "cannot list %s: %s", dir, strerror(errno));
  nn_status st = NN_OK;
  for (struct dirent *e; st == NN_OK && (e = readdir(d));) {
    char p[CKPT_PATH];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (step_of(e->d_name, ".tmp") >= 0 || step_of(e->d_name, ".del") >= 0) st = rm_tree(p);
    else if (step_of(e->d_name, ".old") >= 0) {
      char q[CKPT_PATH];
      snprintf(q, sizeof q, "%.*s", (int)(strlen(p) - 4), p);
      struct ckpt_meta m;
      if (is_dir(q) && ckpt_check_complete(q, &m, 0, 1) == NN_OK) st = rm_tree(p);
      ckpt_meta_free(&m);
    }
  }
  closedir(d);
  if (st != NN_OK || keep <= 0) return st;
  int n = 0, kept = 1;
  struct found *f = scan(dir, &n);
  if (f) qsort(f, (size_t)n, sizeof *f, cmp_found);
  const char *mine = strrchr(final, '/') + 1;
  for (int i = 0, removed = 0; st == NN_OK && i < n; i++) {
    if (!f[i].meta_ok || strcmp(f[i].run_id, lineage.run_id) != 0 || step_of(f[i].name, "") < 0 ||
        strcmp(f[i].name, mine) == 0)
      continue;
    if (kept < keep) {
      kept++;
      continue;
    }
    char p[CKPT_PATH], del[CKPT_PATH + 8];
    snprintf(p, sizeof p, "%s/%s", dir, f[i].name);
    snprintf(del, sizeof del, "%s.del", p);
    if (rename(p, del) != 0) st = nn_fail(NN_ERR_IO, "cannot rename %s to %s: %s", p, del, strerror(errno));
    if (st == NN_OK && removed++ == 0) nn_fault_kill_at(NN_FAULT_CKPT_DURING_PRUNE, 0, step);
    if (st == NN_OK) st = rm_tree(del);
  }
  free(f);
  return st;
}

/* Rank 0: move tmp to final (an older copy of the same step becomes final.old until the new one is in
 * place), point latest at it, prune. At every point a kill leaves a complete checkpoint that
 * ckpt_resolve finds: latest, or failing that the newest complete step_N or step_N.old. */
static nn_status publish(const char *dir, const char *tmp, const char *final, int64_t step, int keep) {
  char old[CKPT_PATH + 8], lt[CKPT_PATH + 16], latest[CKPT_PATH + 16];
  NN_TRY(ckpt_fsync(tmp));
  snprintf(old, sizeof old, "%s.old", final);
  if (is_dir(final)) {
    NN_TRY(rm_tree(old));
    if (rename(final, old) != 0) return nn_fail(NN_ERR_IO, "cannot rename %s to %s: %s", final, old, strerror(errno));
    nn_fault_kill_at(NN_FAULT_CKPT_BETWEEN_RENAMES, 0, step);
  }
  if (rename(tmp, final) != 0) return nn_fail(NN_ERR_IO, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
  NN_TRY(ckpt_fsync(dir));
  nn_fault_kill_at(NN_FAULT_CKPT_BEFORE_LATEST, 0, step);
  snprintf(lt, sizeof lt, "%s/latest.tmp", dir);
  snprintf(latest, sizeof latest, "%s/latest", dir);
  const char *base = strrchr(final, '/') + 1;
  unlink(lt);
  if (symlink(base, lt) != 0 || rename(lt, latest) != 0)
    return nn_fail(NN_ERR_IO, "cannot point %s at %s: %s", latest, base, strerror(errno));
  NN_TRY(ckpt_fsync(dir));
  NN_TRY(rm_tree(old));
  return prune(dir, final, step, keep);
}

/* Rank 0 draws the run id of a lineage that has none yet; every rank advances seq. */
static nn_status lineage_next(struct comm *c) {
  if (!lineage.run_id[0]) {
    if (c->rank == 0) new_run_id(lineage.run_id, sizeof lineage.run_id);
    NN_TRY(comm_bcast(c, lineage.run_id, sizeof lineage.run_id, 0));
  }
  lineage.seq++;
  return NN_OK;
}

static nn_status save(struct comm *c, const char *dir, const struct ckpt_state *s, const struct nn_params *P,
                      const struct nn_optim *o, int keep) {
  char final[CKPT_PATH], tmp[CKPT_PATH + 8];
  if (strlen(dir) + 32 > CKPT_PATH) return nn_fail(NN_ERR_ARG, "checkpoint directory name too long: %s", dir);
  step_path(final, sizeof final, dir, s->step);
  snprintf(tmp, sizeof tmp, "%s.tmp", final);
  int64_t bytes = ckpt_bytes(P, o, c->size);
  NN_TRY(lineage_next(c));
  nn_status local = c->rank == 0 ? prepare(dir, tmp, final, bytes) : NN_OK;
  NN_TRY(agree(c, local));
  /* every rank writes its shard; the sizes and checksums are gathered (as doubles: exact below 2^53) */
  double *sz = calloc(2 * (size_t)c->size, sizeof *sz);
  int64_t *shard_bytes = calloc((size_t)c->size, sizeof *shard_bytes);
  uint32_t *shard_crc = calloc((size_t)c->size, sizeof *shard_crc);
  int64_t mine = 0;
  uint32_t crc = 0;
  local = sz && shard_bytes && shard_crc ? write_shard(c, tmp, s, P, o, &mine, &crc)
                                         : nn_fail(NN_ERR_OOM, "rank %d: out of memory", c->rank);
  if (local == NN_OK) {
    sz[2 * c->rank] = (double)mine, sz[2 * c->rank + 1] = (double)crc;
    nn_fault_kill_at(NN_FAULT_CKPT_AFTER_SHARD, c->rank, s->step);
  }
  nn_status st = agree(c, local);
  if (st == NN_OK) st = comm_allreduce_double(c, sz, 2 * c->size);
  if (st == NN_OK) {
    for (int r = 0; r < c->size; r++) shard_bytes[r] = (int64_t)sz[2 * r], shard_crc[r] = (uint32_t)sz[2 * r + 1];
    /* meta.h5 last: a directory with a readable meta.h5 has every shard */
    local = c->rank == 0 ? write_meta(c, tmp, s, P, o, shard_bytes, shard_crc) : NN_OK;
    if (local == NN_OK) nn_fault_kill_at(NN_FAULT_CKPT_AFTER_META, c->rank, s->step);
    st = agree(c, local);
  }
  free(sz);
  free(shard_bytes);
  free(shard_crc);
  if (st != NN_OK) {
    if (c->rank == 0 && st != NN_ERR_MPI) rm_tree(tmp);
    return st;
  }
  local = NN_OK;
  if (c->rank == 0 && (local = publish(dir, tmp, final, s->step, keep)) != NN_OK) rm_tree(tmp);
  return agree(c, local);
}

/* ---- set-up checks ---- */

int64_t ckpt_bytes(const struct nn_params *P, const struct nn_optim *o, int nranks) {
  int64_t elements = P->total + (o && o->m ? P->trainable : 0) + (o && o->v ? P->trainable : 0);
  return (int64_t)nranks * ckpt_shard_bytes(elements / nranks + 1) + 65536 + 512 * (int64_t)P->n + 16 * (int64_t)nranks;
}

nn_status ckpt_check_setup(const char *ckpt_dir, const char *resume, int rank, const struct nn_params *P,
                           const struct nn_optim *o, int nranks) {
  if (resume && resume[0]) {
    if (strcmp(resume, "auto") == 0) {
      if (!ckpt_dir || !ckpt_dir[0]) return nn_fail(NN_ERR_ARG, "option --resume auto needs --ckpt-dir");
    } else {
      char p[CKPT_PATH], m[CKPT_PATH + 16];
      if (ckpt_resolve_path(resume, p, sizeof p) != NN_OK)
        return nn_fail(NN_ERR_ARG, "option --resume %s: not a checkpoint (no meta.h5, no latest)", resume);
      snprintf(m, sizeof m, "%s/meta.h5", p);
      if (access(m, R_OK) != 0)
        return nn_fail(NN_ERR_ARG, "option --resume %s: %s is missing (%s)", resume, m, strerror(errno));
    }
  }
  if (!ckpt_dir || !ckpt_dir[0]) return NN_OK;
  if (nn_mkdirs(ckpt_dir, "checkpoint") != NN_OK) {
    char why[1024];
    snprintf(why, sizeof why, "%s", nn_errmsg());
    return nn_fail(NN_ERR_ARG, "option --ckpt-dir %s: %s", ckpt_dir, why);
  }
  char probe[CKPT_PATH + 64];
  snprintf(probe, sizeof probe, "%s/.write-test-%d-%d", ckpt_dir, rank, (int)getpid());
  FILE *f = fopen(probe, "w");
  int ok = f && fputs("x", f) >= 0;
  if (f && fclose(f) != 0) ok = 0;
  int e = errno;
  unlink(probe);
  if (!ok) return nn_fail(NN_ERR_ARG, "option --ckpt-dir %s: cannot write there: %s", ckpt_dir, strerror(e));
  int64_t bytes = ckpt_bytes(P, o, nranks);
  struct statvfs fs;
  if (statvfs(ckpt_dir, &fs) == 0 && (double)fs.f_bavail * (double)fs.f_frsize < (double)bytes)
    return nn_fail(NN_ERR_ARG, "option --ckpt-dir %s: no room for one checkpoint of %.1f MB (%.1f MB free)", ckpt_dir,
                   bytes / 1e6, (double)fs.f_bavail * (double)fs.f_frsize / 1e6);
  return NN_OK;
}

/* ---- choosing a checkpoint ---- */

/* Every rank checks the metadata and its share of the shards of path; on failure all get the reason. */
static nn_status verify(struct comm *c, const char *path) {
  struct ckpt_meta m;
  nn_status local = ckpt_check_complete(path, &m, c->rank, c->size);
  ckpt_meta_free(&m);
  return agree(c, local);
}

nn_status ckpt_resolve_path(const char *path, char *out, size_t len) {
  char p[CKPT_PATH + 16], target[CKPT_PATH];
  snprintf(p, sizeof p, "%s/meta.h5", path);
  if (access(p, F_OK) == 0) {
    if (snprintf(out, len, "%s", path) >= (int)len) return nn_fail(NN_ERR_ARG, "path too long: %s", path);
    return NN_OK;
  }
  snprintf(p, sizeof p, "%s/latest", path);
  ssize_t k = readlink(p, target, sizeof target - 1);
  if (k <= 0) return nn_fail(NN_ERR_IO, "%s: not a checkpoint (no meta.h5, no latest)", path);
  target[k] = 0;
  if (target[0] == '/') snprintf(p, sizeof p, "%s", target);
  else snprintf(p, sizeof p, "%s/%s", path, target);
  if (snprintf(out, len, "%s", p) >= (int)len) return nn_fail(NN_ERR_ARG, "path too long: %s", p);
  return NN_OK;
}

/* Rank 0: the candidates of root in the order to try, one name per line into a malloc'd string:
 * latest's target first, then every other step_N / step_N.old with a readable meta.h5, newest written
 * first. Directories without a readable meta.h5 are reported (stderr) and left out. */
static char *candidates(const char *root) {
  if (restore_old(root) != NN_OK) fprintf(stderr, "ckpt: %s\n", nn_errmsg());
  int n = 0;
  struct found *f = scan(root, &n);
  char lt[256];
  latest_target(root, lt, sizeof lt);
  size_t cap = 64 + (size_t)n * 80, len = 0;
  char *out = malloc(cap);
  if (!out) {
    free(f);
    return NULL;
  }
  out[0] = 0;
  if (lt[0] && !strchr(lt, '/')) len += (size_t)snprintf(out + len, cap - len, "%s\n", lt);
  else if (lt[0]) fprintf(stderr, "ckpt: ignoring %s/latest: it points outside the directory (%s)\n", root, lt);
  if (f) qsort(f, (size_t)n, sizeof *f, cmp_found);
  for (int i = 0; i < n; i++) {
    if (strcmp(f[i].name, lt) == 0) continue;
    if (!f[i].meta_ok) {
      fprintf(stderr, "ckpt: skipping %s/%s: %s\n", root, f[i].name, f[i].why);
      continue;
    }
    len += (size_t)snprintf(out + len, cap - len, "%s\n", f[i].name);
  }
  free(f);
  return out;
}

static nn_status resolve(struct comm *c, const char *dir_or_path, int is_auto, char *out, size_t len) {
  if (!is_auto) {
    char p[CKPT_PATH] = "";
    nn_status local = c->rank == 0 ? ckpt_resolve_path(dir_or_path, p, sizeof p) : NN_OK;
    NN_TRY(agree(c, local));
    NN_TRY(comm_bcast(c, p, sizeof p, 0));
    if (snprintf(out, len, "%s", p) >= (int)len) return nn_fail(NN_ERR_ARG, "path too long: %s", p);
    return NN_OK;
  }
  char *list = c->rank == 0 ? candidates(dir_or_path) : NULL;
  int64_t n64 = list ? (int64_t)strlen(list) + 1 : 0;
  nn_status st = comm_bcast(c, &n64, sizeof n64, 0);
  if (st == NN_OK && c->rank != 0 && n64 > 0 && !(list = malloc((size_t)n64)))
    st = nn_fail(NN_ERR_OOM, "rank %d: out of memory", c->rank);
  if (st != NN_ERR_MPI) st = agree(c, st);
  if (st == NN_OK && n64 > 0) st = comm_bcast(c, list, n64, 0);
  int skipped = 0;
  char lt[256] = "";
  if (c->rank == 0) latest_target(dir_or_path, lt, sizeof lt);
  for (char *save = NULL, *name = st == NN_OK && n64 > 0 ? strtok_r(list, "\n", &save) : NULL; name;
       name = strtok_r(NULL, "\n", &save)) {
    char p[CKPT_PATH];
    snprintf(p, sizeof p, "%s/%s", dir_or_path, name);
    nn_status v = verify(c, p);
    if (v == NN_ERR_MPI) {
      st = v;
      break;
    }
    if (v == NN_OK) {
      if (skipped && c->rank == 0) fprintf(stderr, "ckpt: resuming from %s, the newest complete checkpoint\n", p);
      free(list);
      if (snprintf(out, len, "%s", p) >= (int)len) return nn_fail(NN_ERR_ARG, "path too long: %s", p);
      return NN_OK;
    }
    skipped++;
    if (c->rank == 0)
      fprintf(stderr, "ckpt: skipping %s%s: %s\n", p, strcmp(name, lt) == 0 ? " (the target of latest)" : "", nn_errmsg());
  }
  free(list);
  if (st != NN_OK) return st;
  return nn_fail(NN_ERR_IO, "%s: no complete checkpoint (%d incomplete or damaged)", dir_or_path, skipped);
}

/* ---- loading ---- */

/* The checkpoint's table, model and optimizer against the run's. */
static nn_status check_match(const char *path, const struct ckpt_meta *m, const char *model,
                             const struct nn_params *P, const struct nn_optim *o) {
  if (model[0] && strcmp(model, m->s.model) != 0)
    return nn_fail(NN_ERR_FORMAT, "%s/meta.h5: checkpoint of model '%s', this run's model is '%s'", path,
                   m->s.model, model);
  if (m->n != P->n)
    return nn_fail(NN_ERR_FORMAT, "%s/meta.h5: checkpoint has %d parameters, the model %d", path, m->n, P->n);
  for (int i = 0; i < P->n; i++) {
    const struct nn_param *a = &m->table[i], *b = &P->p[i];
    char sa[64], sb[64];
    nn_shape_str(&a->t, sa, sizeof sa);
    nn_shape_str(&b->t, sb, sizeof sb);
    if (strcmp(a->name, b->name) != 0 || strcmp(sa, sb) != 0)
      return nn_fail(NN_ERR_FORMAT, "%s/meta.h5: parameter %d is %s %s in the checkpoint, %s %s in the model", path,
                     i, a->name, sa, b->name, sb);
  }
  for (int i = 0; i < P->n; i++) {
    const struct nn_param *a = &m->table[i], *b = &P->p[i];
    if (a->trainable != b->trainable || a->buffer != b->buffer)
      return nn_fail(NN_ERR_FORMAT, "%s/meta.h5: parameter %s is %s in the checkpoint, %s in the model", path,
                     a->name, a->buffer ? "a buffer" : a->trainable ? "trainable" : "frozen",
                     b->buffer ? "a buffer" : b->trainable ? "trainable" : "frozen");
    if (a->offset != b->offset)
      return nn_fail(NN_ERR_FORMAT, "%s/meta.h5: parameter %s is at offset %lld in the checkpoint, %lld in the model",
                     path, a->name, (long long)a->offset, (long long)b->offset);
  }
  if (!o) return NN_OK;
  if (strcmp(m->optimizer, nn_optim_name(o->cfg.kind)) != 0)
    return nn_fail(NN_ERR_FORMAT, "%s/meta.h5: optimizer state of '%s', this run uses '%s'", path, m->optimizer,
                   nn_optim_name(o->cfg.kind));
  if (m->has[CKPT_OPT_M] != (o->m != NULL) || m->has[CKPT_OPT_V] != (o->v != NULL))
    return nn_fail(NN_ERR_FORMAT, "%s/meta.h5: optimizer state buffers differ (momentum %s in the checkpoint, %s in the run)",
                   path, m->has[CKPT_OPT_M] ? "present" : "absent", o->m ? "present" : "absent");
  return NN_OK;
}

/* Elements [lo, hi) of buffer b (an optimizer slice, ZeRO-1): this rank reads them from whichever shards hold them,
 * whatever rank count wrote the checkpoint; no broadcast. */
static nn_status load_range(struct comm *c, const char *path, const struct ckpt_meta *m, enum ckpt_buf b, float *host,
                            float *dst, const struct nn_backend *be, int64_t lo, int64_t hi) {
  NN_TRY(agree(c, ckpt_read_range(path, m, b, lo, hi, host)));
  nn_be_to_device(be, dst, host + lo, sizeof(float) * (size_t)(hi - lo));
  return NN_OK;
}

/* Buffer b: this rank reads its share, every share is broadcast, the whole goes to dst. */
static nn_status load_buf(struct comm *c, const char *path, const struct ckpt_meta *m, enum ckpt_buf b, float *host,
                          float *dst, const struct nn_backend *be) {
  int64_t n = ckpt_buf_len(m, b);
  int64_t lo = ckpt_slice_start(n, c->rank, c->size), hi = ckpt_slice_start(n, c->rank + 1, c->size);
  NN_TRY(agree(c, ckpt_read_range(path, m, b, lo, hi, host)));
  for (int q = 0; q < c->size && c->size > 1; q++) {
    int64_t s = ckpt_slice_start(n, q, c->size), e = ckpt_slice_start(n, q + 1, c->size);
    NN_TRY(comm_bcast(c, host + s, (int64_t)sizeof(float) * (e - s), q));
  }
  nn_be_to_device(be, dst, host, sizeof(float) * (size_t)n);
  return NN_OK;
}

static nn_status load(struct comm *c, const char *path, struct ckpt_state *s, struct nn_params *P,
                      struct nn_optim *o) {
  struct ckpt_meta m;
  /* every shard's size and CRC-32 checked (each rank its share) before HDF5 parses any: a damaged file is
   * refused with a message instead of reaching libhdf5's parser (which can crash on some damage) */
  nn_status local = ckpt_check_complete(path, &m, c->rank, c->size);
  if (local == NN_OK) local = check_match(path, &m, s->model, P, o);
  float *host = NULL;
  if (local == NN_OK && !(host = malloc(sizeof(float) * (size_t)(m.total ? m.total : 1))))
    local = nn_fail(NN_ERR_OOM, "rank %d: out of memory loading %s", c->rank, path);
  nn_status st = agree(c, local);
  float *dst[CKPT_NBUF] = {P->data, o ? o->m : NULL, o ? o->v : NULL};
  /* an optimizer over part of the buffers (ZeRO-1) reads only its slice; every rank has the same kind */
  int sliced = o && o->sliced;
  for (int b = 0; st == NN_OK && b < CKPT_NBUF; b++)
    if (dst[b] && sliced && b != CKPT_PARAMS)
      st = load_range(c, path, &m, (enum ckpt_buf)b, host, dst[b], P->be, o->lo, o->hi);
    else if (dst[b])
      st = load_buf(c, path, &m, (enum ckpt_buf)b, host, dst[b], P->be);
  free(host);
  ckpt_meta_free(&m);
  if (st != NN_OK) return st;
  *s = m.s;
  if (o) o->t = m.opt_t;
  if (m.s.run_id[0]) snprintf(lineage.run_id, sizeof lineage.run_id, "%s", m.s.run_id);
  else lineage.run_id[0] = 0; /* version 1: a new lineage starts at the next save */
  lineage.seq = m.s.seq;
  return NN_OK;
}

/* ---- the public calls: collectives with the longer I/O timeout ---- */

/* Raise c's collective timeout to CKPT_TIMEOUT_S (not when it waits forever); returns the old one. */
static double widen(struct comm *c) {
  double t = c->timeout_s;
  if (t > 0 && t < CKPT_TIMEOUT_S) c->timeout_s = CKPT_TIMEOUT_S;
  return t;
}

nn_status ckpt_save(struct comm *c, const char *dir, const struct ckpt_state *s, const struct nn_params *P,
                    const struct nn_optim *o, int keep) {
  double t = widen(c);
  nn_status st = save(c, dir, s, P, o, keep);
  c->timeout_s = t;
  return st;
}

nn_status ckpt_resolve(struct comm *c, const char *dir_or_path, int is_auto, char *out, size_t len) {
  double t = widen(c);
  nn_status st = resolve(c, dir_or_path, is_auto, out, len);
  c->timeout_s = t;
  return st;
}

nn_status ckpt_load(struct comm *c, const char *path, struct ckpt_state *s, struct nn_params *P,
                    struct nn_optim *o) {
  double t = widen(c);
  nn_status st = load(c, path, s, P, o);
  c->timeout_s = t;
  return st;
}

nn_status ckpt_read_state(const char *path, struct ckpt_state *s) {
  char dir[CKPT_PATH];
  NN_TRY(ckpt_resolve_path(path, dir, sizeof dir));
  struct ckpt_meta m;
  memset(&m, 0, sizeof m);
  NN_TRY(ckpt_meta_read(dir, &m));
  *s = m.s;
  ckpt_meta_free(&m);
  return NN_OK;
}
