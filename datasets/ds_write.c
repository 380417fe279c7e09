/* ds_write: shards of every split into a temporary directory, renamed to the final name at the end. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ds_h5.h"
#include "ds_write.h"
#include "nn_fs.h"

nn_status ds_progress(const struct ds_write_opts *o, const char *what, int64_t done, int64_t total) {
  if (o && o->progress && o->progress(o->ctx, what, done, total))
    return nn_fail(NN_ERR_STATE, "interrupted while %s", what);
  return NN_OK;
}

/* 1 when path is an empty directory. */
static int ds_dir_empty(const char *path) {
  DIR *d = opendir(path);
  if (!d) return 0;
  struct dirent *e;
  int empty = 1;
  while (empty && (e = readdir(d))) empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
  closedir(d);
  return empty;
}

/* Remove a directory of plain files (the temporary or replaced output); best effort. */
static void ds_rm_tree(const char *path) {
  DIR *d = opendir(path);
  struct dirent *e;
  char p[DS_PATH_MAX];
  while (d && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%.3000s/%.255s", path, e->d_name);
    unlink(p);
  }
  if (d) closedir(d);
  rmdir(path);
}

void ds_write_discard(const char *tmp) { ds_rm_tree(tmp); }

nn_status ds_write_check_out(const char *out, int force) {
  struct stat st;
  if (!out || !*out) return nn_fail(NN_ERR_ARG, "no output directory given (--out DIR)");
  if (strlen(out) >= DS_DIR_MAX - 64) return nn_fail(NN_ERR_ARG, "%.200s...: output path too long", out);
  if (stat(out, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return nn_fail(NN_ERR_IO, "%s: exists and is not a directory", out);
    if (!force && !ds_dir_empty(out))
      return nn_fail(NN_ERR_IO, "%s: already exists and is not empty (pass --force to replace it)", out);
  }
  return NN_OK;
}

/* Row range [a,b) of shard k of n over count rows. */
static void ds_shard_range(int64_t count, int k, int n, int64_t *a, int64_t *b) {
  *a = count * k / n;
  *b = count * (k + 1) / n;
}

/* Create dataset `name` = buf (file type ft, memory type mt, shape dims[nd]); chunked + deflate when compress. */
static nn_status ds_put(hid_t f, const char *path, const char *name, hid_t ft, hid_t mt, int nd, const hsize_t *dims, const void *buf, int compress) {
  hid_t sp = H5Screate_simple(nd, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (compress && dims[0] > 0) {
    hsize_t cd[4], row = H5Tget_size(ft);
    for (int k = 1; k < nd; k++) row *= dims[k], cd[k] = dims[k];
    cd[0] = (256 * 1024) / row;
    if (cd[0] < 1) cd[0] = 1;
    if (cd[0] > dims[0]) cd[0] = dims[0];
    H5Pset_chunk(dcpl, nd, cd);
    H5Pset_deflate(dcpl, 4);
  }
  hid_t d = H5Dcreate2(f, name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  herr_t e = d < 0 ? -1 : H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  if (d >= 0) H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(sp);
  if (e < 0) return nn_fail(NN_ERR_HDF5, "%s: cannot write dataset '%s': %s", path, name, ds_h5_errdesc());
  return NN_OK;
}

/* Smallest file type that holds token ids below vocab. */
static hid_t ds_token_type(int64_t vocab) { return vocab <= 65536 ? H5T_STD_U16LE : H5T_STD_I32LE; }

/* Root attributes every shard carries. */
static nn_status ds_put_attrs(hid_t f, const char *path, const struct ds_spec *sp, const struct ds_split_data *d, int k, int n, int64_t first, int64_t count) {
  const struct ds_meta *m = &sp->meta;
  NN_TRY(ds_attr_put_str(f, path, "format", DS_FORMAT_NAME));
  NN_TRY(ds_attr_put_i64(f, path, "format_version", DS_FORMAT_VERSION));
  NN_TRY(ds_attr_put_str(f, path, "kind", ds_kind_name(m->kind)));
  NN_TRY(ds_attr_put_str(f, path, "split", d->name));
  NN_TRY(ds_attr_put_str(f, path, "dataset_id", m->id));
  NN_TRY(ds_attr_put_i64(f, path, "shard_index", k));
  NN_TRY(ds_attr_put_i64(f, path, "num_shards", n));
  NN_TRY(ds_attr_put_i64(f, path, "count", count));
  NN_TRY(ds_attr_put_i64(f, path, "first_index", first));
  NN_TRY(ds_attr_put_i64(f, path, "split_count", d->count));
  NN_TRY(ds_attr_put_str(f, path, "source", sp->source ? sp->source : ""));
  if (m->kind == DS_IMAGE) {
    int64_t shape[3] = {m->c, m->h, m->w};
    NN_TRY(ds_attr_put_i64v(f, path, "image_shape", shape, 3));
    NN_TRY(ds_attr_put_i64(f, path, "num_classes", m->nclasses));
    NN_TRY(ds_attr_put_strv(f, path, "class_names", m->class_names, m->nclasses));
    if (m->has_norm && m->c <= DS_NORM_MAX_C) {
      NN_TRY(ds_attr_put_f64v(f, path, "channel_mean", m->mean, m->c));
      NN_TRY(ds_attr_put_f64v(f, path, "channel_std", m->std, m->c));
    }
  } else if (m->kind == DS_FEATURES) {
    NN_TRY(ds_attr_put_i64(f, path, "feature_dim", m->feature_dim));
    NN_TRY(ds_attr_put_i64(f, path, "num_classes", m->nclasses));
    NN_TRY(ds_attr_put_strv(f, path, "class_names", m->class_names, m->nclasses));
    NN_TRY(ds_attr_put_str(f, path, "layer", m->layer));
  } else if (m->kind == DS_TEXT) {
    NN_TRY(ds_attr_put_i64(f, path, "vocab_size", m->vocab_size));
    NN_TRY(ds_attr_put_strv(f, path, "vocab", m->vocab, m->vocab_size));
  } else {
    NN_TRY(ds_attr_put_i64(f, path, "src_vocab_size", m->src_vocab_size));
    NN_TRY(ds_attr_put_i64(f, path, "tgt_vocab_size", m->tgt_vocab_size));
    NN_TRY(ds_attr_put_strv(f, path, "src_vocab", m->src_vocab, m->src_vocab_size));
    NN_TRY(ds_attr_put_strv(f, path, "tgt_vocab", m->tgt_vocab, m->tgt_vocab_size));
    NN_TRY(ds_attr_put_i64(f, path, "pad_id", m->pad_id));
    NN_TRY(ds_attr_put_i64(f, path, "sos_id", m->sos_id));
    NN_TRY(ds_attr_put_i64(f, path, "eos_id", m->eos_id));
    NN_TRY(ds_attr_put_i64(f, path, "unk_id", m->unk_id));
    NN_TRY(ds_attr_put_i64(f, path, "max_len", m->max_len));
  }
  return NN_OK;
}

/* Pairs side j of shard rows [a,b): tokens and offsets rebased to 0. */
static nn_status ds_put_side(hid_t f, const char *path, const char *tname, const char *oname, const int32_t *tok, const int64_t *off, int64_t a, int64_t b, int64_t vocab, int compress) {
  int64_t *o = malloc(sizeof(int64_t) * (size_t)(b - a + 1));
  if (!o) return nn_fail(NN_ERR_OOM, "%s: out of memory", path);
  for (int64_t i = a; i <= b; i++) o[i - a] = off[i] - off[a];
  hsize_t nt = (hsize_t)(off[b] - off[a]), no = (hsize_t)(b - a + 1);
  nn_status s = ds_put(f, path, tname, ds_token_type(vocab), H5T_NATIVE_INT32, 1, &nt, tok + off[a], compress);
  if (s == NN_OK) s = ds_put(f, path, oname, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &no, o, compress);
  free(o);
  return s;
}

/* Write shard k of n of split d into directory dir. */
static nn_status ds_write_shard(const char *dir, const struct ds_spec *sp, const struct ds_split_data *d, int k, int n, int compress) {
  char path[DS_PATH_MAX], name[64];
  const struct ds_meta *m = &sp->meta;
  int64_t a, b;
  ds_shard_range(d->count, k, n, &a, &b);
  ds_shard_name(name, sizeof name, d->name, k, n);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  hid_t fapl = ds_h5_fapl();
  hid_t f = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (f < 0) return nn_fail(NN_ERR_IO, "%s: cannot create: %s", path, ds_h5_errdesc());
  nn_status s = ds_put_attrs(f, path, sp, d, k, n, a, b - a);
  hsize_t rows = (hsize_t)(b - a);
  if (s == NN_OK && m->kind == DS_IMAGE) {
    hsize_t dims[4] = {rows, (hsize_t)m->c, (hsize_t)m->h, (hsize_t)m->w};
    s = ds_put(f, path, DS_D_IMAGES, H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, dims, d->pixels + (a - d->base) * m->c * m->h * m->w, compress);
    if (s == NN_OK) s = ds_put(f, path, DS_D_LABELS, H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dims, d->labels + a - d->base, compress);
  } else if (s == NN_OK && m->kind == DS_FEATURES) {
    hsize_t dims[2] = {rows, (hsize_t)m->feature_dim};
    s = ds_put(f, path, DS_D_FEATURES, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, d->features + (a - d->base) * m->feature_dim, compress);
    if (s == NN_OK) s = ds_put(f, path, DS_D_LABELS, H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dims, d->labels + a - d->base, compress);
  } else if (s == NN_OK && m->kind == DS_TEXT) {
    s = ds_put(f, path, DS_D_TOKENS, ds_token_type(m->vocab_size), H5T_NATIVE_INT32, 1, &rows, d->tokens + a, compress);
  } else if (s == NN_OK) {
    s = ds_put_side(f, path, DS_D_SRC, DS_D_SRC_OFF, d->src, d->src_off, a, b, m->src_vocab_size, compress);
    if (s == NN_OK) s = ds_put_side(f, path, DS_D_TGT, DS_D_TGT_OFF, d->tgt, d->tgt_off, a, b, m->tgt_vocab_size, compress);
  }
  if (H5Fclose(f) < 0 && s == NN_OK) s = nn_fail(NN_ERR_IO, "%s: cannot close (disk full?): %s", path, ds_h5_errdesc());
  return s;
}

/* 64-bit FNV-1a over n bytes, continuing from h. */
static uint64_t ds_fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ull;
  return h;
}

/* A dataset id from the metadata and content: "<kind>-<16 hex digits>". */
static void ds_make_id(const struct ds_spec *sp, char id[64]) {
  const struct ds_meta *m = &sp->meta;
  uint64_t h = 0xcbf29ce484222325ull;
  int64_t shape[5] = {m->kind, m->c, m->h, m->w, m->feature_dim};
  h = ds_fnv(h, shape, sizeof shape);
  char **vs[] = {m->class_names, m->vocab, m->src_vocab, m->tgt_vocab};
  int ns[] = {m->nclasses, m->vocab_size, m->src_vocab_size, m->tgt_vocab_size};
  for (int k = 0; k < 4; k++)
    for (int i = 0; i < ns[k]; i++) h = ds_fnv(h, vs[k][i], strlen(vs[k][i]) + 1);
  for (int i = 0; i < sp->nsplits; i++) {
    const struct ds_split_data *d = &sp->split[i];
    h = ds_fnv(h, d->name, strlen(d->name) + 1);
    h = ds_fnv(h, &d->count, sizeof d->count);
    if (m->kind == DS_IMAGE) {
      h = ds_fnv(h, d->pixels, (size_t)(d->count * m->c * m->h * m->w));
      h = ds_fnv(h, d->labels, 4 * (size_t)d->count);
    } else if (m->kind == DS_FEATURES) {
      h = ds_fnv(h, d->features, sizeof(float) * (size_t)(d->count * m->feature_dim));
      h = ds_fnv(h, d->labels, 4 * (size_t)d->count);
    } else if (m->kind == DS_TEXT) {
      h = ds_fnv(h, d->tokens, 4 * (size_t)d->count);
    } else {
      h = ds_fnv(h, d->src, 4 * (size_t)d->src_off[d->count]);
      h = ds_fnv(h, d->tgt, 4 * (size_t)d->tgt_off[d->count]);
    }
  }
  snprintf(id, 64, "%s-%016llx", ds_kind_name(m->kind), (unsigned long long)h);
}

/* Shards for split i: split 0 gets `shards`, the others proportionally fewer; always 1..count. */
static int ds_split_shards(const struct ds_spec *sp, int i, int shards) {
  int64_t c0 = sp->split[0].count, c = sp->split[i].count;
  int64_t n = i == 0 ? shards : (shards * c + c0 - 1) / (c0 > 0 ? c0 : 1);
  if (sp->meta.kind == DS_TEXT && n > c / 2) n = c / 2; /* every text shard holds >= 2 tokens */
  if (n > c) n = c;
  return n < 1 ? 1 : (int)n;
}

static nn_status ds_write_all(const char *tmp, const struct ds_spec *sp, const struct ds_write_opts *o) {
  int64_t total = 0, done = 0;
  for (int i = 0; i < sp->nsplits; i++) total += ds_split_shards(sp, i, o->shards);
  for (int i = 0; i < sp->nsplits; i++) {
    const struct ds_split_data *d = &sp->split[i];
    int n = ds_split_shards(sp, i, o->shards);
    if (!ds_split_name_ok(d->name)) return nn_fail(NN_ERR_ARG, "bad split name '%s'", d->name);
    if (d->count <= 0) return nn_fail(NN_ERR_FORMAT, "split '%s' is empty: nothing to write", d->name);
    for (int k = 0; k < n; k++) {
      char what[128];
      snprintf(what, sizeof what, "writing %s shard %d of %d", d->name, k + 1, n);
      NN_TRY(ds_progress(o, what, done, total));
      ds_h5_lock();
      nn_status s = ds_write_shard(tmp, sp, d, k, n, o->compress);
      ds_h5_unlock();
      NN_TRY(s);
      done++;
    }
  }
  return ds_progress(o, "moving the dataset into place", done, total);
}

nn_status ds_write_one_shard(const char *dir, const struct ds_spec *sp, int si, int k, int n, int compress) {
  if (si < 0 || si >= sp->nsplits || k < 0 || k >= n) return nn_fail(NN_ERR_ARG, "ds_write_one_shard: shard %d of %d of split %d", k, n, si);
  ds_h5_lock();
  nn_status s = ds_write_shard(dir, sp, &sp->split[si], k, n, compress);
  ds_h5_unlock();
  return s;
}

nn_status ds_write_commit(const char *tmp, const char *out, int force) {
  char old[DS_DIR_MAX];
  struct stat st;
  NN_TRY(ds_write_check_out(out, force));
  size_t n = strlen(out);
  while (n > 1 && out[n - 1] == '/') n--;
  snprintf(old, sizeof old, "%.*s.old-%ld", (int)n, out, (long)getpid());
  nn_status s = NN_OK;
  int exists = stat(out, &st) == 0;
  if (exists && !ds_dir_empty(out) && rename(out, old) != 0)
    s = nn_fail(NN_ERR_IO, "%s: cannot move the old dataset aside to %s: %s", out, old, strerror(errno));
  else if (exists && ds_dir_empty(out) && rmdir(out) != 0)
    s = nn_fail(NN_ERR_IO, "%s: cannot replace the empty directory: %s", out, strerror(errno));
  if (s == NN_OK && rename(tmp, out) != 0) {
    s = nn_fail(NN_ERR_IO, "%s: cannot rename %s to it: %s", out, tmp, strerror(errno));
    rename(old, out);
  }
  if (s != NN_OK) ds_rm_tree(tmp);
  else if (stat(old, &st) == 0) ds_rm_tree(old);
  return s;
}

nn_status ds_write_dataset(const char *out, const struct ds_spec *spec, const struct ds_write_opts *o) {
  char tmp[DS_DIR_MAX], old[DS_DIR_MAX];
  struct ds_spec sp = *spec;
  if (o->shards < 1) return nn_fail(NN_ERR_ARG, "--shards must be at least 1 (got %d)", o->shards);
  if (sp.nsplits < 1 || sp.nsplits > DS_MAX_SPLITS) return nn_fail(NN_ERR_ARG, "%s: no split to write", out);
  NN_TRY(ds_write_check_out(out, o->force));
  if (!sp.meta.id[0]) ds_make_id(&sp, sp.meta.id);
  size_t n = strlen(out);
  while (n > 1 && out[n - 1] == '/') n--;
  snprintf(tmp, sizeof tmp, "%.*s.tmp-%ld", (int)n, out, (long)getpid());
  snprintf(old, sizeof old, "%.*s.old-%ld", (int)n, out, (long)getpid());
  if (nn_mkdirs_parent(out, "output") != NN_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", nn_errmsg());
    return nn_fail(NN_ERR_IO, "%s: cannot create the output (%s)", out, why);
  }
  if (mkdir(tmp, 0777) != 0)
    return nn_fail(NN_ERR_IO, "%s: cannot create the output (temporary directory %s): %s", out, tmp, strerror(errno));
  nn_status s = ds_write_all(tmp, &sp, o);
  struct stat st;
  int exists = s == NN_OK && stat(out, &st) == 0;
  if (s == NN_OK && exists && !ds_dir_empty(out) && rename(out, old) != 0)
    s = nn_fail(NN_ERR_IO, "%s: cannot move the old dataset aside to %s: %s", out, old, strerror(errno));
  else if (s == NN_OK && exists && ds_dir_empty(out) && rmdir(out) != 0)
    s = nn_fail(NN_ERR_IO, "%s: cannot replace the empty directory: %s", out, strerror(errno));
  if (s == NN_OK && rename(tmp, out) != 0) {
    s = nn_fail(NN_ERR_IO, "%s: cannot rename %s to it: %s", out, tmp, strerror(errno));
    rename(old, out);
  }
  if (s != NN_OK) ds_rm_tree(tmp);
  else if (stat(old, &st) == 0) ds_rm_tree(old);
  return s;
}
