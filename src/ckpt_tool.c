/* ckpt_tool: the `attn_train ckpt list|verify|raw` subcommands — inspecting checkpoints without
 * training (single process, no MPI collectives). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cfg.h"
#include "ckpt_impl.h"
#include "ds.h"
#include "model.h"

/* Names of the checkpoint-like directories of root (step_*), sorted descending (malloc'd). */
static int cmp_name_desc(const void *a, const void *b) { return -strcmp(*(char *const *)a, *(char *const *)b); }

static char **list_dirs(const char *root, int *n) {
  *n = 0;
  DIR *d = opendir(root);
  if (!d) return NULL;
  char **v = NULL;
  int cap = 0;
  for (struct dirent *e; (e = readdir(d));) {
    char p[CKPT_PATH];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", root, e->d_name);
    if (strncmp(e->d_name, "step_", 5) != 0 || lstat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
    if (*n == cap) {
      char **w = realloc(v, sizeof *v * (size_t)(cap = cap ? 2 * cap : 16));
      if (!w) break;
      v = w;
    }
    v[(*n)++] = strdup(e->d_name);
  }
  closedir(d);
  if (v) qsort(v, (size_t)*n, sizeof *v, cmp_name_desc);
  return v;
}

static void free_list(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

static void fmt_time(double t, char *out, size_t len) {
  if (t <= 0) {
    snprintf(out, len, "-");
    return;
  }
  time_t s = (time_t)t;
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

nn_status ckpt_list(const char *root, FILE *out) {
  struct stat sb;
  if (stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return nn_fail(NN_ERR_ARG, "ckpt list %s: not a directory (%s)", root, strerror(errno));
  int n = 0;
  char **names = list_dirs(root, &n);
  char lt[256] = "", p[CKPT_PATH + 16];
  snprintf(p, sizeof p, "%s/latest", root);
  ssize_t k = readlink(p, lt, sizeof lt - 1);
  lt[k > 0 ? k : 0] = 0;
  fprintf(out, "%-22s %8s %-20s %5s %-16s %-16s %5s  %s\n", "directory", "step", "written (UTC)", "ranks", "model",
          "run id", "seq", "status");
  for (int i = 0; i < n; i++) {
    struct ckpt_meta m;
    snprintf(p, sizeof p, "%s/%s", root, names[i]);
    nn_status st = ckpt_check_complete(p, &m, 0, 1);
    char when[32], status[600];
    fmt_time(m.time, when, sizeof when);
    if (st == NN_OK) snprintf(status, sizeof status, "complete%s", strcmp(lt, names[i]) == 0 ? " (latest)" : "");
    else snprintf(status, sizeof status, "INCOMPLETE%s: %s", strcmp(lt, names[i]) == 0 ? " (latest)" : "", nn_errmsg());
    if (m.s.nranks > 0)
      fprintf(out, "%-22s %8lld %-20s %5d %-16s %-16s %5lld  %s\n", names[i], (long long)m.s.step, when, m.s.nranks,
              m.s.model, m.s.run_id[0] ? m.s.run_id : "-", (long long)m.s.seq, status);
    else
      fprintf(out, "%-22s %8s %-20s %5s %-16s %-16s %5s  %s\n", names[i], "?", "?", "?", "?", "?", "?", status);
    ckpt_meta_free(&m);
  }
  if (lt[0]) {
    snprintf(p, sizeof p, "%s/%s", root, lt);
    if (access(p, F_OK) != 0) fprintf(out, "latest -> %s: MISSING\n", lt);
  } else {
    fprintf(out, "no latest link\n");
  }
  free_list(names, n);
  return NN_OK;
}

/* The parameter table of m against the model its configuration builds (data_dir, else the configured
 * --data, gives the dataset's meta). *checked = 0 (with a reason in why) when the model cannot be built. */
static nn_status check_model(const char *dir, const struct ckpt_meta *m, const char *data_dir, int *checked,
                             char *why, size_t wlen) {
  *checked = 0;
  struct cfg c;
  cfg_defaults(&c);
  char src[CKPT_PATH + 16];
  snprintf(src, sizeof src, "%s/meta.h5", dir);
  if (cfg_load_json(&c, m->s.config_json, src) != NN_OK) {
    snprintf(why, wlen, "model not checked: %s", nn_errmsg());
    return NN_OK;
  }
  const struct model_def *def = model_find(c.model);
  if (!def) return nn_fail(NN_ERR_FORMAT, "%s: model '%s' is not known to this program", src, c.model);
  struct ds_reader *r = NULL;
  const char *data = data_dir && data_dir[0] ? data_dir : c.data;
  if (ds_open(&r, data, "train") != NN_OK) {
    snprintf(why, wlen, "model not checked: its dataset %s is not readable (give --data DIR)", data);
    return NN_OK;
  }
  struct nn_params P;
  nn_params_init(&P);
  void *model = NULL;
  nn_status st = def->build(&model, &c, ds_get_meta(r), &P);
  char buf[CFG_STR];
  snprintf(buf, sizeof buf, "%s", c.freeze);
  for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); st == NN_OK && tok; tok = strtok_r(NULL, ", ", &save))
    nn_params_freeze(&P, tok);
  if (st == NN_OK) st = nn_params_alloc(&P, &nn_cpu_backend);
  if (st == NN_OK && P.n != m->n)
    st = nn_fail(NN_ERR_FORMAT, "%s: %d parameters, model %s has %d", src, m->n, c.model, P.n);
  for (int i = 0; st == NN_OK && i < P.n; i++) {
    const struct nn_param *a = &m->table[i], *b = &P.p[i];
    char sa[64], sb[64];
    nn_shape_str(&a->t, sa, sizeof sa);
    nn_shape_str(&b->t, sb, sizeof sb);
    if (strcmp(a->name, b->name) != 0 || strcmp(sa, sb) != 0 || a->offset != b->offset || a->trainable != b->trainable)
      st = nn_fail(NN_ERR_FORMAT, "%s: parameter %d is %s %s at %lld in the checkpoint, %s %s at %lld in model %s", src,
                   i, a->name, sa, (long long)a->offset, b->name, sb, (long long)b->offset, c.model);
  }
  if (st == NN_OK && (P.total != m->total || P.trainable != m->trainable))
    st = nn_fail(NN_ERR_FORMAT, "%s: %lld elements (%lld trainable), model %s has %lld (%lld)", src, (long long)m->total,
                 (long long)m->trainable, c.model, (long long)P.total, (long long)P.trainable);
  if (st == NN_OK) *checked = 1;
  if (model) def->destroy(model);
  nn_params_free(&P);
  ds_close(r);
  return st;
}

/* Verify one checkpoint directory; one line to out. */
static nn_status verify_one(const char *dir, const char *data_dir, FILE *out) {
  struct ckpt_meta m;
  nn_status st = ckpt_check_complete(dir, &m, 0, 1);
  for (int r = 0; st == NN_OK && m.version >= 2 && r < m.s.nranks; r++) st = ckpt_shard_verify(dir, &m, r);
  int checked = 0;
  char why[CKPT_PATH + 128] = "";
  if (st == NN_OK) st = check_model(dir, &m, data_dir, &checked, why, sizeof why);
  if (st == NN_OK)
    fprintf(out, "%s: complete: step %lld, %d shard%s, sizes, CRC-32 and Fletcher32 checksums match; %s\n", dir,
            (long long)m.s.step, m.s.nranks, m.s.nranks > 1 ? "s" : "",
            checked ? "parameter table matches the model" : why);
  else
    fprintf(out, "%s: FAILED: %s\n", dir, nn_errmsg());
  ckpt_meta_free(&m);
  return st;
}

nn_status ckpt_verify(const char *path, const char *data_dir, FILE *out, int *bad) {
  *bad = 0;
  char p[CKPT_PATH + 16];
  snprintf(p, sizeof p, "%s/meta.h5", path);
  struct stat sb;
  if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return nn_fail(NN_ERR_ARG, "ckpt verify %s: not a directory (%s)", path, strerror(errno));
  if (access(p, F_OK) == 0 || strstr(path, "/step_") || strncmp(path, "step_", 5) == 0) {
    *bad = verify_one(path, data_dir, out) != NN_OK;
    return NN_OK;
  }
  int n = 0;
  char **names = list_dirs(path, &n);
  if (n == 0) {
    free_list(names, n);
    return nn_fail(NN_ERR_ARG, "ckpt verify %s: no checkpoint (no meta.h5, no step_* directory)", path);
  }
  for (int i = 0; i < n; i++) {
    snprintf(p, sizeof p, "%s/%s", path, names[i]);
    *bad += verify_one(p, data_dir, out) != NN_OK;
  }
  free_list(names, n);
  return NN_OK;
}

nn_status ckpt_dump_raw(const char *ckpt_path, const char *out) {
  char dir[CKPT_PATH];
  NN_TRY(ckpt_resolve_path(ckpt_path, dir, sizeof dir));
  struct ckpt_meta m;
  nn_status ok = ckpt_check_complete(dir, &m, 0, 1); /* sizes and CRC-32 before HDF5 reads a shard */
  if (ok != NN_OK) {
    ckpt_meta_free(&m);
    return ok;
  }
  float *host = malloc(sizeof(float) * (size_t)(m.total ? m.total : 1));
  FILE *f = host ? fopen(out, "wb") : NULL;
  nn_status st = !host ? nn_fail(NN_ERR_OOM, "out of memory reading %s", dir)
                 : !f  ? nn_fail(NN_ERR_IO, "cannot write %s: %s", out, strerror(errno))
                       : NN_OK;
  for (int b = 0; st == NN_OK && b < CKPT_NBUF; b++) {
    if (!m.has[b]) continue;
    int64_t n = ckpt_buf_len(&m, (enum ckpt_buf)b);
    st = ckpt_read_range(dir, &m, (enum ckpt_buf)b, 0, n, host);
    if (st == NN_OK && fwrite(host, sizeof(float), (size_t)n, f) != (size_t)n)
      st = nn_fail(NN_ERR_IO, "cannot write %s: %s", out, strerror(errno));
  }
  if (f && fclose(f) != 0 && st == NN_OK) st = nn_fail(NN_ERR_IO, "cannot write %s: %s", out, strerror(errno));
  free(host);
  ckpt_meta_free(&m);
  return st;
}
