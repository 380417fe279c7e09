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

/* The step of a directory name step_<digits>, or -1. */
static int64_t step_of(const char *name) {
  if (strncmp(name, "step_", 5) != 0 || !name[5]) return -1;
  int64_t v = 0;
  for (const char *p = name + 5; *p; p++) {
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

static int cmp_desc(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Steps of the step_ directories of dir, newest first (malloc'd; *n = 0 and NULL if none). */
static int64_t *list_steps(const char *dir, int *n) {
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  int64_t *v = NULL;
  int cap = 0;
  for (struct dirent *e; (e = readdir(d));) {
    int64_t s = step_of(e->d_name);
    char p[CKPT_PATH];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (s < 0 || !is_dir(p)) continue;
    if (*n == cap) {
      int64_t *w = realloc(v, sizeof *v * (size_t)(cap = cap ? 2 * cap : 16));
      if (!w) break;
      v = w;
    }
    v[(*n)++] = s;
  }
  closedir(d);
  if (v) qsort(v, (size_t)*n, sizeof *v, cmp_desc);
  return v;
}

/* ---- saving ---- */

/* Rank 0: create dir and an empty temporary directory tmp (a killed writer's leftovers removed);
 * fail early, naming dir, if the file system lacks the checkpoint's bytes. */
static nn_status prepare(const char *dir, const char *tmp, int64_t bytes) {
  NN_TRY(nn_mkdirs(dir, "checkpoint"));
  NN_TRY(rm_tree(tmp));
  struct statvfs fs;
  if (statvfs(dir, &fs) == 0 && (double)fs.f_bavail * (double)fs.f_frsize < (double)bytes)
    return nn_fail(NN_ERR_IO, "%s: no room for a checkpoint of %.1f MB (%.1f MB free)", dir, bytes / 1e6,
                   (double)fs.f_bavail * (double)fs.f_frsize / 1e6);
  if (mkdir(tmp, 0777) != 0) return nn_fail(NN_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
  return NN_OK;
}

/* This rank's shard: its slice of every flat buffer. */
static nn_status write_shard(struct comm *c, const char *tmp, const struct ckpt_state *s, const struct nn_params *P,
                             const struct nn_optim *o) {
  const float *x[CKPT_NBUF] = {P->data, o ? o->m : NULL, o ? o->v : NULL};
  struct ckpt_slice sl[CKPT_NBUF];
  for (int b = 0; b < CKPT_NBUF; b++) {
    int64_t n = b == CKPT_PARAMS ? P->total : P->trainable;
    sl[b].total = n;
    sl[b].start = ckpt_slice_start(n, c->rank, c->size);
    sl[b].count = ckpt_slice_start(n, c->rank + 1, c->size) - sl[b].start;
    sl[b].x = x[b] ? x[b] + sl[b].start : NULL;
  }
  return ckpt_shard_write(tmp, c->rank, c->size, s->step, sl, P->be);
}

static nn_status write_meta(struct comm *c, const char *tmp, const struct ckpt_state *s, const struct nn_params *P,
                            const struct nn_optim *o) {
  struct ckpt_meta m;
  memset(&m, 0, sizeof m);
  m.s = *s;
  m.s.nranks = c->size;
  m.total = P->total;
  m.trainable = P->trainable;
  snprintf(m.optimizer, sizeof m.optimizer, "%s", o ? nn_optim_name(o->cfg.kind) : "none");
  m.opt_t = o ? o->t : 0;
  m.has[CKPT_PARAMS] = 1;
  m.has[CKPT_OPT_M] = o && o->m;
  m.has[CKPT_OPT_V] = o && o->v;
  m.table = P->p;
  m.n = P->n;
  return ckpt_meta_write(tmp, &m);
}

/* Rank 0: remove step directories beyond the keep newest (never `step`) and leftovers of killed writers. */
static nn_status prune(const char *dir, int64_t step, int keep) {
  DIR *d = opendir(dir);
  if (!d) return nn_fail(NN_ERR_IO, "cannot list %s: %s", dir, strerror(errno));
  nn_status st = NN_OK;
  for (struct dirent *e; st == NN_OK && (e = readdir(d));) {
    size_t l = strlen(e->d_name);
    int stale = strncmp(e->d_name, "step_", 5) == 0 && l > 4 &&
                (strcmp(e->d_name + l - 4, ".tmp") == 0 || strcmp(e->d_name + l - 4, ".old") == 0);
    char p[CKPT_PATH];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (stale) st = rm_tree(p);
  }
  closedir(d);
  int n = 0, kept = 1;
  int64_t *steps = list_steps(dir, &n);
  for (int i = 0; st == NN_OK && keep > 0 && i < n; i++) {
    if (steps[i] == step) continue;
    if (kept < keep) {
      kept++;
      continue;
    }
    char p[CKPT_PATH];
    step_path(p, sizeof p, dir, steps[i]);
    st = rm_tree(p);
  }
  free(steps);
  return st;
}

/* Rank 0: move tmp to final (replacing an older copy of the same step), point latest at it, prune. */
static nn_status publish(const char *dir, const char *tmp, const char *final, int64_t step, int keep) {
  char old[CKPT_PATH + 8], lt[CKPT_PATH + 16], latest[CKPT_PATH + 16];
  NN_TRY(ckpt_fsync(tmp));
  snprintf(old, sizeof old, "%s.old", final);
  if (is_dir(final)) {
    NN_TRY(rm_tree(old));
    if (rename(final, old) != 0) return nn_fail(NN_ERR_IO, "cannot rename %s to %s: %s", final, old, strerror(errno));
  }
  if (rename(tmp, final) != 0) return nn_fail(NN_ERR_IO, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
  NN_TRY(rm_tree(old));
  snprintf(lt, sizeof lt, "%s/latest.tmp", dir);
  snprintf(latest, sizeof latest, "%s/latest", dir);
  const char *base = strrchr(final, '/') + 1;
  unlink(lt);
  if (symlink(base, lt) != 0 || rename(lt, latest) != 0)
    return nn_fail(NN_ERR_IO, "cannot point %s at %s: %s", latest, base, strerror(errno));
  NN_TRY(ckpt_fsync(dir));
  return prune(dir, step, keep);
}

static nn_status save(struct comm *c, const char *dir, const struct ckpt_state *s, const struct nn_params *P,
                      const struct nn_optim *o, int keep) {
  char final[CKPT_PATH], tmp[CKPT_PATH + 8];
  if (strlen(dir) + 32 > CKPT_PATH) return nn_fail(NN_ERR_ARG, "checkpoint directory name too long: %s", dir);
  step_path(final, sizeof final, dir, s->step);
  snprintf(tmp, sizeof tmp, "%s.tmp", final);
  int64_t elements = P->total + (o && o->m ? P->trainable : 0) + (o && o->v ? P->trainable : 0);
  int64_t bytes = (int64_t)c->size * ckpt_shard_bytes(elements / c->size + 1) + 65536 + 512 * (int64_t)P->n;
  nn_status local = c->rank == 0 ? prepare(dir, tmp, bytes) : NN_OK;
  NN_TRY(agree(c, local));
  local = write_shard(c, tmp, s, P, o);
  if (local == NN_OK && c->rank == 0) local = write_meta(c, tmp, s, P, o);
  nn_status st = agree(c, local);
  if (st != NN_OK) {
    if (c->rank == 0) rm_tree(tmp);
    return st;
  }
  local = NN_OK;
  if (c->rank == 0 && (local = publish(dir, tmp, final, s->step, keep)) != NN_OK) rm_tree(tmp);
  return agree(c, local);
}

/* ---- choosing a checkpoint ---- */

/* Every rank checks the metadata and its share of the shards of path; on failure all get the reason. */
static nn_status verify(struct comm *c, const char *path) {
  struct ckpt_meta m;
  nn_status local = ckpt_meta_read(path, &m);
  for (int r = c->rank; local == NN_OK && r < m.s.nranks; r += c->size) local = ckpt_shard_verify(path, &m, r);
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

static nn_status resolve(struct comm *c, const char *dir_or_path, int is_auto, char *out, size_t len) {
  if (!is_auto) {
    char p[CKPT_PATH] = "";
    nn_status local = c->rank == 0 ? ckpt_resolve_path(dir_or_path, p, sizeof p) : NN_OK;
    NN_TRY(agree(c, local));
    NN_TRY(comm_bcast(c, p, sizeof p, 0));
    if (snprintf(out, len, "%s", p) >= (int)len) return nn_fail(NN_ERR_ARG, "path too long: %s", p);
    return NN_OK;
  }
  int n = 0;
  int64_t *steps = c->rank == 0 ? list_steps(dir_or_path, &n) : NULL;
  int64_t n64 = n;
  nn_status st = comm_bcast(c, &n64, sizeof n64, 0);
  if (st == NN_OK && c->rank != 0 && n64 > 0 && !(steps = malloc(sizeof *steps * (size_t)n64)))
    st = nn_fail(NN_ERR_OOM, "rank %d: out of memory", c->rank);
  if (st != NN_ERR_MPI) st = agree(c, st);
  if (st == NN_OK && n64 > 0) st = comm_bcast(c, steps, (int64_t)sizeof *steps * n64, 0);
  int damaged = 0;
  for (int64_t i = 0; st == NN_OK && i < n64; i++) {
    char p[CKPT_PATH];
    step_path(p, sizeof p, dir_or_path, steps[i]);
    nn_status v = verify(c, p);
    if (v == NN_ERR_MPI) st = v;
    else if (v == NN_OK) {
      if (damaged && c->rank == 0) fprintf(stderr, "ckpt: resuming from %s, the newest complete checkpoint\n", p);
      free(steps);
      if (snprintf(out, len, "%s", p) >= (int)len) return nn_fail(NN_ERR_ARG, "path too long: %s", p);
      return NN_OK;
    } else {
      damaged++;
      if (c->rank == 0) fprintf(stderr, "ckpt: skipping damaged checkpoint %s: %s\n", p, nn_errmsg());
    }
  }
  free(steps);
  if (st != NN_OK) return st;
  return nn_fail(NN_ERR_IO, "%s: no complete checkpoint (%d damaged)", dir_or_path, damaged);
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
  nn_status local = ckpt_meta_read(path, &m);
  if (local == NN_OK) local = check_match(path, &m, s->model, P, o);
  float *host = NULL;
  if (local == NN_OK && !(host = malloc(sizeof(float) * (size_t)(m.total ? m.total : 1))))
    local = nn_fail(NN_ERR_OOM, "rank %d: out of memory loading %s", c->rank, path);
  nn_status st = agree(c, local);
  float *dst[CKPT_NBUF] = {P->data, o ? o->m : NULL, o ? o->v : NULL};
  for (int b = 0; st == NN_OK && b < CKPT_NBUF; b++)
    if (dst[b]) st = load_buf(c, path, &m, (enum ckpt_buf)b, host, dst[b], P->be);
  free(host);
  ckpt_meta_free(&m);
  if (st != NN_OK) return st;
  *s = m.s;
  if (o) o->t = m.opt_t;
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
