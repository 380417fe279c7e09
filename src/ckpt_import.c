/* ckpt_import: a checkpoint to one plain HDF5 file (export) and parameters by name from such a
 * file or a PyTorch state_dict (import, --init-from). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>
#include "ckpt_impl.h"
#include "ds_h5.h"
#include "export.h"
#include "task.h"
#include "nn_backend.h"

nn_status ckpt_export(const char *ckpt_path, const char *out_h5) {
  char dir[CKPT_PATH];
  struct ckpt_meta m;
  NN_TRY(ckpt_resolve_path(ckpt_path, dir, sizeof dir));
  nn_status ok = ckpt_check_complete(dir, &m, 0, 1); /* sizes and CRC-32 before HDF5 reads a shard */
  if (ok != NN_OK) {
    ckpt_meta_free(&m);
    return ok;
  }
  float *host = malloc(sizeof(float) * (size_t)(m.total ? m.total : 1));
  nn_status st = host ? ckpt_read_range(dir, &m, CKPT_PARAMS, 0, m.total, host)
                      : nn_fail(NN_ERR_OOM, "out of memory exporting %s", dir);
  /* the decoding metadata (vocabulary, class names) travels with the weights, when the checkpoint has it */
  char meta_path[CKPT_PATH + 16];
  snprintf(meta_path, sizeof meta_path, "%s/meta.h5", dir);
  struct ds_meta data;
  int have = task_meta_read(meta_path, &data) == NN_OK;
  if (st == NN_OK) st = export_write(out_h5, m.table, m.n, host, m.s.model, m.s.config_json, m.s.step, have ? &data : NULL);
  if (have) task_meta_free(&data);
  free(host);
  ckpt_meta_free(&m);
  return st;
}

/* ---- import ---- */

/* A dataset of the file: its HDF5 path and its dotted name (a/b/c -> a.b.c). */
struct entry {
  char *path, *dotted;
  int used;
};

struct entries {
  struct entry *e;
  int n, cap, oom;
};

static herr_t visit(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  struct entries *L = data;
  hid_t o = H5Oopen(g, name, H5P_DEFAULT);
  if (o < 0) return 0;
  int is_ds = H5Iget_type(o) == H5I_DATASET;
  H5Oclose(o);
  if (!is_ds) return 0;
  if (L->n == L->cap) {
    struct entry *w = realloc(L->e, sizeof *w * (size_t)(L->cap = L->cap ? 2 * L->cap : 64));
    if (!w) return L->oom = 1, -1;
    L->e = w;
  }
  struct entry *e = &L->e[L->n];
  e->path = strdup(name);
  e->dotted = strdup(name);
  e->used = 0;
  if (!e->path || !e->dotted) {
    free(e->path);
    free(e->dotted);
    return L->oom = 1, -1;
  }
  for (char *p = e->dotted; *p; p++)
    if (*p == '/') *p = '.';
  L->n++;
  return 0;
}

static void entries_free(struct entries *L) {
  for (int i = 0; i < L->n; i++) {
    free(L->e[i].path);
    free(L->e[i].dotted);
  }
  free(L->e);
}

static struct entry *find(struct entries *L, const char *name) {
  for (int i = 0; i < L->n; i++)
    if (strcmp(L->e[i].dotted, name) == 0) return &L->e[i];
  return NULL;
}

/* "(a,b,c)" as nn_shape_str writes it. */
static void dims_str(char *buf, size_t len, int ndim, const hsize_t *dims) {
  size_t o = (size_t)snprintf(buf, len, "(");
  for (int i = 0; i < ndim && o < len; i++) o += (size_t)snprintf(buf + o, len - o, i ? ",%llu" : "%llu", dims[i]);
  if (o < len) snprintf(buf + o, len - o, ")");
}

/* Copy dataset e into parameter p when the shapes agree (*same = 1), else describe both shapes in why. */
static nn_status import_one(hid_t f, const char *file, const struct entry *e, const struct nn_params *P,
                            const struct nn_param *p, float *tmp, int *same, char *why, size_t wlen) {
  hid_t d = H5Dopen2(f, e->path, H5P_DEFAULT);
  if (d < 0) return nn_fail(NN_ERR_FORMAT, "%s: cannot open dataset %s: %s", file, e->path, ds_h5_errdesc());
  hid_t sp = H5Dget_space(d);
  hsize_t dims[H5S_MAX_RANK];
  int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  *same = nd == p->t.ndim;
  for (int i = 0; *same && i < nd; i++) *same = dims[i] == (hsize_t)p->t.shape[i];
  nn_status st = NN_OK;
  if (*same) {
    st = ds_h5_check_layout(d, file, e->path); /* before HDF5 1.10's compact read trusts a damaged layout */
    if (st == NN_OK) st = ds_h5_check_numeric(d, file, e->path);
    if (st == NN_OK && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0)
      st = nn_fail(NN_ERR_FORMAT, "%s: cannot read dataset %s as float32: %s", file, e->path, ds_h5_errdesc());
    else if (st == NN_OK) nn_be_to_device(P->be, P->data + p->offset, tmp, sizeof(float) * (size_t)p->t.numel);
  } else {
    char ms[64], fs[64];
    nn_shape_str(&p->t, ms, sizeof ms);
    dims_str(fs, sizeof fs, nd < 0 ? 0 : nd, dims);
    snprintf(why, wlen, "%s: model %s, file %s", p->name, ms, fs);
  }
  H5Dclose(d);
  return st;
}

/* Append item to a ", "-separated list held in a memstream. */
static void list_add(FILE *l, int *count, const char *item) {
  if (l) fprintf(l, "%s%s", (*count)++ ? ", " : "", item);
  else (*count)++;
}

/* Match every parameter of P against the datasets of open file f; lists of names go to the streams. */
static nn_status import_all(hid_t f, const char *file, struct entries *L, struct nn_params *P,
                            struct ckpt_import_report *r, FILE *miss, FILE *bad, FILE *unused) {
  int64_t most = 1;
  for (int i = 0; i < P->n; i++)
    if (P->p[i].t.numel > most) most = P->p[i].t.numel;
  float *tmp = malloc(sizeof(float) * (size_t)most);
  if (!tmp) return nn_fail(NN_ERR_OOM, "out of memory importing %s", file);
  nn_status st = NN_OK;
  for (int i = 0; st == NN_OK && i < P->n; i++) {
    const struct nn_param *p = &P->p[i];
    struct entry *e = find(L, p->name);
    char why[NN_NAME_MAX + 160];
    int same = 0;
    if (!e) {
      list_add(miss, &r->missing, p->name);
      continue;
    }
    e->used = 1;
    st = import_one(f, file, e, P, p, tmp, &same, why, sizeof why);
    if (st == NN_OK && same) r->matched++;
    else if (st == NN_OK) list_add(bad, &r->mismatched, why);
  }
  for (int i = 0; st == NN_OK && i < L->n; i++)
    if (!L->e[i].used) list_add(unused, &r->unused, L->e[i].dotted);
  free(tmp);
  return st;
}

nn_status ckpt_import(struct nn_params *P, const char *h5_path, struct ckpt_import_report *r, FILE *report) {
  struct ckpt_import_report local;
  if (!r) r = &local;
  memset(r, 0, sizeof *r);
  struct entries L = {0};
  char *txt[3] = {NULL, NULL, NULL};
  size_t len[3] = {0, 0, 0};
  FILE *s[3] = {NULL, NULL, NULL};
  for (int k = 0; report && k < 3; k++) s[k] = open_memstream(&txt[k], &len[k]);
  ds_h5_lock();
  hid_t f = H5Fis_hdf5(h5_path) > 0 ? H5Fopen(h5_path, H5F_ACC_RDONLY, H5P_DEFAULT) : H5I_INVALID_HID;
  nn_status st = NN_OK;
  if (f < 0) st = nn_fail(NN_ERR_IO, "%s: cannot open as an HDF5 file", h5_path);
  else if (H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, &L) < 0 || L.oom)
    st = nn_fail(L.oom ? NN_ERR_OOM : NN_ERR_FORMAT, "%s: cannot list datasets: %s", h5_path, ds_h5_errdesc());
  if (st == NN_OK) st = import_all(f, h5_path, &L, P, r, s[0], s[1], s[2]);
  if (f >= 0) H5Fclose(f);
  ds_h5_unlock();
  for (int k = 0; k < 3; k++)
    if (s[k]) fclose(s[k]);
  if (st == NN_OK && report) {
    fprintf(report, "init-from %s: %d of %d parameters loaded\n", h5_path, r->matched, P->n);
    const char *what[3] = {"missing in file", "shape mismatch (left as initialised)", "unused in file"};
    const int cnt[3] = {r->missing, r->mismatched, r->unused};
    for (int k = 0; k < 3; k++)
      if (cnt[k]) fprintf(report, "  %s (%d): %s\n", what[k], cnt[k], txt[k] ? txt[k] : "");
  }
  for (int k = 0; k < 3; k++) free(txt[k]);
  entries_free(&L);
  return st;
}
