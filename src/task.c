/* task: shared helpers of the tasks: batch buffers and the decoding metadata of exports. */
#include "task.h"
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ds_h5.h"
#include "ds_internal.h"

nn_status task_batch_alloc(struct task_batch *tb, const struct ds_meta *m, int64_t cap, int64_t len) {
  memset(tb, 0, sizeof *tb);
  tb->cap = cap;
  tb->len = len;
  size_t n = (size_t)(cap > 0 ? cap : 1);
  tb->b.indices = malloc(sizeof(int64_t) * n);
  int ok = tb->b.indices != NULL;
  if (m->kind == DS_IMAGE) {
    tb->b.pixels = malloc(n * (size_t)(m->c * m->h * m->w));
    tb->b.labels = malloc(sizeof(int32_t) * n);
    ok = ok && tb->b.pixels && tb->b.labels;
  } else if (m->kind == DS_TEXT) {
    tb->b.tokens = malloc(sizeof(int32_t) * n * (size_t)(len + 1));
    ok = ok && tb->b.tokens;
  } else {
    tb->b.src = malloc(sizeof(int32_t) * n * (size_t)len);
    tb->b.tgt = malloc(sizeof(int32_t) * n * (size_t)len);
    ok = ok && tb->b.src && tb->b.tgt;
  }
  if (!ok) {
    task_batch_free(tb);
    return nn_fail(NN_ERR_OOM, "out of memory for a batch of %lld examples", (long long)cap);
  }
  return NN_OK;
}

void task_batch_free(struct task_batch *tb) {
  free(tb->b.indices);
  free(tb->b.pixels);
  free(tb->b.labels);
  free(tb->b.tokens);
  free(tb->b.src);
  free(tb->b.tgt);
  memset(tb, 0, sizeof *tb);
}

/* ---- decoding metadata in exports and checkpoints (group "data") ---- */

/* "data." + name (root attributes of exports and meta.h5 do not show up as parameters) */
static const char *A(const char *name) {
  static _Thread_local char buf[64];
  snprintf(buf, sizeof buf, "data.%s", name);
  return buf;
}

nn_status task_meta_write(int64_t f, const char *path, const struct ds_meta *m) {
  hid_t gid = (hid_t)f;
  nn_status st = ds_attr_put_str(gid, path, A("kind"), ds_kind_name(m->kind));
  if (st == NN_OK) st = ds_attr_put_str(gid, path, A("dataset_id"), m->id);
  if (m->kind == DS_IMAGE) {
    int64_t shape[3] = {m->c, m->h, m->w};
    if (st == NN_OK) st = ds_attr_put_i64v(gid, path, A("image_shape"), shape, 3);
    if (st == NN_OK) st = ds_attr_put_i64(gid, path, A("num_classes"), m->nclasses);
    if (st == NN_OK && m->class_names) st = ds_attr_put_strv(gid, path, A("class_names"), m->class_names, m->nclasses);
  } else if (m->kind == DS_TEXT) {
    if (st == NN_OK) st = ds_attr_put_i64(gid, path, A("vocab_size"), m->vocab_size);
    if (st == NN_OK) st = ds_attr_put_strv(gid, path, A("vocab"), m->vocab, m->vocab_size);
  } else {
    if (st == NN_OK) st = ds_attr_put_i64(gid, path, A("src_vocab_size"), m->src_vocab_size);
    if (st == NN_OK) st = ds_attr_put_i64(gid, path, A("tgt_vocab_size"), m->tgt_vocab_size);
    if (st == NN_OK) st = ds_attr_put_strv(gid, path, A("src_vocab"), m->src_vocab, m->src_vocab_size);
    if (st == NN_OK) st = ds_attr_put_strv(gid, path, A("tgt_vocab"), m->tgt_vocab, m->tgt_vocab_size);
    const char *names[5] = {"pad_id", "sos_id", "eos_id", "unk_id", "max_len"};
    int64_t v[5] = {m->pad_id, m->sos_id, m->eos_id, m->unk_id, m->max_len};
    for (int i = 0; st == NN_OK && i < 5; i++) st = ds_attr_put_i64(gid, path, A(names[i]), v[i]);
  }
  return st;
}

static nn_status read_group(hid_t gid, const char *path, struct ds_meta *m) {
  char kind[16];
  NN_TRY(ds_attr_get_str(gid, path, A("kind"), kind, sizeof kind));
  int k = ds_kind_parse(kind);
  if (k < 0) return nn_fail(NN_ERR_FORMAT, "%s: group data has unknown kind '%s'", path, kind);
  m->kind = (enum ds_kind)k;
  NN_TRY(ds_attr_get_str(gid, path, A("dataset_id"), m->id, sizeof m->id));
  int64_t n = 0, v = 0;
  if (m->kind == DS_IMAGE) {
    int64_t shape[3];
    NN_TRY(ds_attr_get_i64v(gid, path, A("image_shape"), shape, 3));
    m->c = shape[0], m->h = shape[1], m->w = shape[2];
    NN_TRY(ds_attr_get_i64(gid, path, A("num_classes"), &v));
    m->nclasses = (int)v;
    if (H5Aexists(gid, A("class_names")) > 0) NN_TRY(ds_attr_get_strv(gid, path, A("class_names"), &m->class_names, &n));
  } else if (m->kind == DS_TEXT) {
    NN_TRY(ds_attr_get_strv(gid, path, A("vocab"), &m->vocab, &n));
    m->vocab_size = (int)n;
  } else {
    NN_TRY(ds_attr_get_strv(gid, path, A("src_vocab"), &m->src_vocab, &n));
    m->src_vocab_size = (int)n;
    NN_TRY(ds_attr_get_strv(gid, path, A("tgt_vocab"), &m->tgt_vocab, &n));
    m->tgt_vocab_size = (int)n;
    int *ids[4] = {&m->pad_id, &m->sos_id, &m->eos_id, &m->unk_id};
    const char *names[4] = {"pad_id", "sos_id", "eos_id", "unk_id"};
    for (int i = 0; i < 4; i++) {
      NN_TRY(ds_attr_get_i64(gid, path, A(names[i]), &v));
      *ids[i] = (int)v;
    }
    NN_TRY(ds_attr_get_i64(gid, path, A("max_len"), &m->max_len));
  }
  return NN_OK;
}

nn_status task_meta_read(const char *path, struct ds_meta *m) {
  memset(m, 0, sizeof *m);
  ds_h5_lock();
  nn_status st = NN_OK;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) st = nn_fail(NN_ERR_IO, "cannot open %s: %s", path, ds_h5_errdesc());
  else if (H5Aexists(f, A("kind")) <= 0)
    st = nn_fail(NN_ERR_FORMAT, "%s: no decoding metadata (attributes data.*, written since the task interface)", path);
  else
    st = read_group(f, path, m);
  if (f >= 0) H5Fclose(f);
  ds_h5_unlock();
  if (st != NN_OK) task_meta_free(m);
  return st;
}

void task_meta_free(struct ds_meta *m) {
  ds_meta_free(m);
  memset(m, 0, sizeof *m);
}
