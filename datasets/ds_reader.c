/* ds_reader: open and validate the shards of one split; batch reads as one hyperslab union per shard. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ds_h5.h"
#include "ds_internal.h"

struct ds_shard {
  char path[DS_PATH_MAX];
  hid_t f, d[4];      /* image: images, labels; text: tokens; pairs: src, src_off, tgt, tgt_off */
  int64_t first, count; /* first global example (token for text) and how many */
  int64_t *off[2];    /* pairs: src / tgt offsets (count+1), loaded at open */
  int chunked[4];      /* dataset d[i] is chunked (compressed): read run by run */
};

struct ds_req { int64_t shard, start, len, dst, src; }; /* rows [start,start+len) -> output row dst */

struct ds_reader {
  struct ds_meta m;
  char dir[DS_DIR_MAX];
  struct ds_shard *sh;
  int64_t row_bytes; /* image row c*h*w */
  void *tmp;
  size_t tmp_cap;
  struct ds_req *req;
  int64_t *runs; /* 2 per request: merged row runs of one gather */
  int64_t req_cap;
};

/* Attributes of a shard beyond its ds_meta. */
struct ds_shard_attrs { int64_t index, nshards, count, first, split_count; };

static const char *const ds_dnames[4][4] = {
    {DS_D_IMAGES, DS_D_LABELS}, {DS_D_TOKENS}, {DS_D_SRC, DS_D_SRC_OFF, DS_D_TGT, DS_D_TGT_OFF}, {DS_D_FEATURES, DS_D_LABELS}};

/* ---------------- opening ---------------- */

/* Open an HDF5 file read-only, with a message that says what is wrong. */
static nn_status ds_open_file(const char *path, hid_t *f) {
  struct stat st;
  if (stat(path, &st) != 0) return nn_fail(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  htri_t is = H5Fis_hdf5(path);
  if (is == 0) return nn_fail(NN_ERR_FORMAT, "%s: not an HDF5 file", path);
  hid_t fapl = ds_h5_fapl();
  *f = is < 0 ? H5I_INVALID_HID : H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  if (*f < 0) return nn_fail(NN_ERR_HDF5, "%s: cannot open HDF5 file (truncated or corrupt?): %s", path, ds_h5_errdesc());
  return NN_OK;
}

/* Check that f is one of ours, of this format version. */
static nn_status ds_check_format(hid_t f, const char *path) {
  char fmt[64];
  int64_t ver;
  if (H5Aexists(f, "format") <= 0)
    return nn_fail(NN_ERR_FORMAT, "%s: not an attn_train dataset shard (no root attribute 'format')", path);
  NN_TRY(ds_attr_get_str(f, path, "format", fmt, sizeof fmt));
  if (strcmp(fmt, DS_FORMAT_NAME))
    return nn_fail(NN_ERR_FORMAT, "%s: not an attn_train dataset shard (format '%s', expected '%s')", path, fmt,
                   DS_FORMAT_NAME);
  NN_TRY(ds_attr_get_i64(f, path, "format_version", &ver));
  if (ver != DS_FORMAT_VERSION)
    return nn_fail(NN_ERR_FORMAT, "%s: dataset format version %lld, this build reads version %d", path,
                   (long long)ver, DS_FORMAT_VERSION);
  return NN_OK;
}

static nn_status ds_get_int(hid_t f, const char *path, const char *name, int *v) {
  int64_t x;
  NN_TRY(ds_attr_get_i64(f, path, name, &x));
  if (x < 0 || x > 0x7fffffff) return nn_fail(NN_ERR_FORMAT, "%s: root attribute '%s' = %lld is out of range", path, name, (long long)x);
  *v = (int)x;
  return NN_OK;
}

static nn_status ds_get_names(hid_t f, const char *path, const char *name, char ***v, int *n) {
  int64_t k;
  NN_TRY(ds_attr_get_strv(f, path, name, v, &k));
  if (*n != (int)k) {
    ds_strv_free(*v, k);
    *v = NULL;
    return nn_fail(NN_ERR_FORMAT, "%s: root attribute '%s' has %lld entries, the size attribute says %d", path, name, (long long)k, *n);
  }
  return NN_OK;
}

/* Read the metadata and shard attributes of an open shard. */
static nn_status ds_read_attrs(hid_t f, const char *path, struct ds_meta *m, struct ds_shard_attrs *a) {
  char kind[16];
  memset(m, 0, sizeof *m);
  NN_TRY(ds_check_format(f, path));
  NN_TRY(ds_attr_get_str(f, path, "kind", kind, sizeof kind));
  int k = ds_kind_parse(kind);
  if (k < 0) return nn_fail(NN_ERR_FORMAT, "%s: unknown dataset kind '%s'", path, kind);
  m->kind = (enum ds_kind)k;
  NN_TRY(ds_attr_get_str(f, path, "dataset_id", m->id, sizeof m->id));
  NN_TRY(ds_attr_get_str(f, path, "split", m->split, sizeof m->split));
  NN_TRY(ds_attr_get_i64(f, path, "shard_index", &a->index));
  NN_TRY(ds_attr_get_i64(f, path, "num_shards", &a->nshards));
  NN_TRY(ds_attr_get_i64(f, path, "count", &a->count));
  NN_TRY(ds_attr_get_i64(f, path, "first_index", &a->first));
  NN_TRY(ds_attr_get_i64(f, path, "split_count", &a->split_count));
  if (a->count < 0 || a->first < 0 || a->split_count < 0)
    return nn_fail(NN_ERR_FORMAT, "%s: negative count attribute", path);
  if (m->kind == DS_IMAGE) {
    int64_t shape[3];
    NN_TRY(ds_attr_get_i64v(f, path, "image_shape", shape, 3));
    if (shape[0] <= 0 || shape[1] <= 0 || shape[2] <= 0 || shape[0] * shape[1] * shape[2] > (1 << 26))
      return nn_fail(NN_ERR_FORMAT, "%s: bad image_shape %lldx%lldx%lld", path, (long long)shape[0],
                     (long long)shape[1], (long long)shape[2]);
    m->c = shape[0], m->h = shape[1], m->w = shape[2];
    NN_TRY(ds_get_int(f, path, "num_classes", &m->nclasses));
    NN_TRY(ds_get_names(f, path, "class_names", &m->class_names, &m->nclasses));
    if (H5Aexists(f, "channel_mean") > 0 && m->c <= DS_NORM_MAX_C) { /* optional: per-channel statistics */
      NN_TRY(ds_attr_get_f64v(f, path, "channel_mean", m->mean, m->c));
      NN_TRY(ds_attr_get_f64v(f, path, "channel_std", m->std, m->c));
      for (int64_t k = 0; k < m->c; k++)
        if (!(m->std[k] > 0) || !(m->mean[k] >= 0 && m->mean[k] <= 1))
          return nn_fail(NN_ERR_FORMAT, "%s: channel_mean/channel_std of channel %lld out of range (%g, %g)", path,
                         (long long)k, m->mean[k], m->std[k]);
      m->has_norm = 1;
    }
  } else if (m->kind == DS_FEATURES) {
    NN_TRY(ds_attr_get_i64(f, path, "feature_dim", &m->feature_dim));
    if (m->feature_dim < 1 || m->feature_dim > (1 << 24))
      return nn_fail(NN_ERR_FORMAT, "%s: feature_dim %lld out of range", path, (long long)m->feature_dim);
    NN_TRY(ds_get_int(f, path, "num_classes", &m->nclasses));
    NN_TRY(ds_get_names(f, path, "class_names", &m->class_names, &m->nclasses));
    NN_TRY(ds_attr_get_str(f, path, "layer", m->layer, sizeof m->layer));
  } else if (m->kind == DS_TEXT) {
    NN_TRY(ds_get_int(f, path, "vocab_size", &m->vocab_size));
    NN_TRY(ds_get_names(f, path, "vocab", &m->vocab, &m->vocab_size));
  } else {
    NN_TRY(ds_get_int(f, path, "src_vocab_size", &m->src_vocab_size));
    NN_TRY(ds_get_int(f, path, "tgt_vocab_size", &m->tgt_vocab_size));
    NN_TRY(ds_get_names(f, path, "src_vocab", &m->src_vocab, &m->src_vocab_size));
    NN_TRY(ds_get_names(f, path, "tgt_vocab", &m->tgt_vocab, &m->tgt_vocab_size));
    NN_TRY(ds_get_int(f, path, "pad_id", &m->pad_id));
    NN_TRY(ds_get_int(f, path, "sos_id", &m->sos_id));
    NN_TRY(ds_get_int(f, path, "eos_id", &m->eos_id));
    NN_TRY(ds_get_int(f, path, "unk_id", &m->unk_id));
    NN_TRY(ds_attr_get_i64(f, path, "max_len", &m->max_len));
    int lim = m->src_vocab_size < m->tgt_vocab_size ? m->src_vocab_size : m->tgt_vocab_size;
    if (m->pad_id >= lim || m->sos_id >= lim || m->eos_id >= lim || m->unk_id >= lim || m->max_len < 1)
      return nn_fail(NN_ERR_FORMAT, "%s: special token ids or max_len out of range", path);
  }
  return NN_OK;
}

static int ds_strv_eq(char **a, char **b, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(a[i], b[i])) return 0;
  return 1;
}

/* Name of the first field where two shards' metadata differ, NULL if none. */
static const char *ds_meta_diff(const struct ds_meta *a, const struct ds_meta *b) {
  if (a->kind != b->kind) return "kind";
  if (strcmp(a->split, b->split)) return "split";
  if (a->c != b->c || a->h != b->h || a->w != b->w) return "image_shape";
  if (a->has_norm != b->has_norm || memcmp(a->mean, b->mean, sizeof a->mean) || memcmp(a->std, b->std, sizeof a->std))
    return "channel_mean/channel_std";
  if (a->feature_dim != b->feature_dim || strcmp(a->layer, b->layer)) return "feature_dim/layer";
  if (a->nclasses != b->nclasses || !ds_strv_eq(a->class_names, b->class_names, a->nclasses)) return "class_names";
  if (a->vocab_size != b->vocab_size || !ds_strv_eq(a->vocab, b->vocab, a->vocab_size)) return "vocab";
  if (a->src_vocab_size != b->src_vocab_size || !ds_strv_eq(a->src_vocab, b->src_vocab, a->src_vocab_size))
    return "src_vocab";
  if (a->tgt_vocab_size != b->tgt_vocab_size || !ds_strv_eq(a->tgt_vocab, b->tgt_vocab, a->tgt_vocab_size))
    return "tgt_vocab";
  if (a->pad_id != b->pad_id || a->sos_id != b->sos_id || a->eos_id != b->eos_id || a->unk_id != b->unk_id ||
      a->max_len != b->max_len)
    return "special token ids";
  return NULL;
}

/* Open a dataset of the shard and check its extent: dims[0] == rows (any when rows < 0), then tail dims. */
static nn_status ds_open_dset(struct ds_shard *sh, int i, const char *name, int64_t rows, int nd, const int64_t *tail, int64_t row_bytes) {
  if (H5Lexists(sh->f, name, H5P_DEFAULT) <= 0 || H5Oexists_by_name(sh->f, name, H5P_DEFAULT) <= 0)
    return nn_fail(NN_ERR_FORMAT, "%s: missing dataset '%s'", sh->path, name);
  hid_t d = H5Dopen2(sh->f, name, H5P_DEFAULT);
  if (d >= 0) { /* chunked (compressed) shards: a chunk cache that holds the whole dataset, up to 1 GiB */
    hid_t dcpl = H5Dget_create_plist(d);
    hsize_t cd[4] = {1, 1, 1, 1};
    if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 4, cd) >= 1) {
      sh->chunked[i] = 1;
      hid_t sp = H5Dget_space(d);
      hid_t t = H5Dget_type(d);
      size_t total = (size_t)H5Sget_simple_extent_npoints(sp) * H5Tget_size(t);
      H5Tclose(t);
      size_t chunk = (size_t)row_bytes * (size_t)cd[0], cap = (size_t)1 << 30;
      size_t nbytes = total + chunk < cap ? total + chunk : cap;
      size_t nslots = 10 * (nbytes / (chunk ? chunk : 1)) + 101;
      hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
      H5Pset_chunk_cache(dapl, nslots | 1, nbytes, 1.0);
      H5Sclose(sp);
      H5Dclose(d);
      d = H5Dopen2(sh->f, name, dapl);
      H5Pclose(dapl);
    }
    H5Pclose(dcpl);
  }
  if (d < 0) return nn_fail(NN_ERR_HDF5, "%s: cannot open dataset '%s': %s", sh->path, name, ds_h5_errdesc());
  sh->d[i] = d;
  NN_TRY(ds_h5_check_layout(d, sh->path, name)); /* a damaged compact layout: before HDF5 1.10 reads it */
  hid_t sp = H5Dget_space(d);
  hsize_t dims[8];
  int n = H5Sget_simple_extent_ndims(sp);
  if (n >= 1 && n <= 8) H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  int ok = n == nd && (rows < 0 || (int64_t)dims[0] == rows);
  for (int k = 1; ok && k < nd; k++) ok = (int64_t)dims[k] == tail[k - 1];
  if (!ok) return nn_fail(NN_ERR_FORMAT, "%s: dataset '%s' has the wrong shape (expected %lld rows)", sh->path, name, (long long)rows);
  return NN_OK;
}

/* Load pairs offsets j (0 src, 1 tgt): rising from 0 to the token count, each sentence 1..max_len tokens. */
static nn_status ds_load_offsets(struct ds_shard *sh, int j, int64_t max_len) {
  hid_t toks = sh->d[2 * j], offs = sh->d[2 * j + 1];
  hid_t sp = H5Dget_space(toks);
  int64_t ntok = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  int64_t *o = malloc(sizeof(int64_t) * (size_t)(sh->count + 1));
  if (!o) return nn_fail(NN_ERR_OOM, "%s: out of memory for offsets", sh->path);
  sh->off[j] = o;
  if (H5Dread(offs, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, o) < 0)
    return nn_fail(NN_ERR_HDF5, "%s: cannot read '%s': %s", sh->path, ds_dnames[DS_PAIRS][2 * j + 1], ds_h5_errdesc());
  int ok = o[0] == 0 && o[sh->count] == ntok;
  for (int64_t i = 0; ok && i < sh->count; i++) ok = o[i + 1] > o[i] && o[i + 1] - o[i] <= max_len;
  if (!ok) return nn_fail(NN_ERR_FORMAT, "%s: '%s' do not rise from 0 to the %lld tokens of '%s' in steps of 1..max_len %lld",
                          sh->path, ds_dnames[DS_PAIRS][2 * j + 1], (long long)ntok, ds_dnames[DS_PAIRS][2 * j], (long long)max_len);
  return NN_OK;
}

/* Open and check the datasets of shard sh against its metadata. */
static nn_status ds_open_data(struct ds_reader *r, struct ds_shard *sh) {
  const struct ds_meta *m = &r->m;
  if (m->kind == DS_IMAGE) {
    int64_t tail[3] = {m->c, m->h, m->w};
    NN_TRY(ds_open_dset(sh, 0, DS_D_IMAGES, sh->count, 4, tail, r->row_bytes));
    NN_TRY(ds_open_dset(sh, 1, DS_D_LABELS, sh->count, 1, NULL, 4));
  } else if (m->kind == DS_FEATURES) {
    int64_t tail[1] = {m->feature_dim};
    NN_TRY(ds_open_dset(sh, 0, DS_D_FEATURES, sh->count, 2, tail, r->row_bytes));
    NN_TRY(ds_open_dset(sh, 1, DS_D_LABELS, sh->count, 1, NULL, 4));
  } else if (m->kind == DS_TEXT) {
    NN_TRY(ds_open_dset(sh, 0, DS_D_TOKENS, sh->count, 1, NULL, 4));
  } else {
    for (int j = 0; j < 2; j++) {
      NN_TRY(ds_open_dset(sh, 2 * j, ds_dnames[DS_PAIRS][2 * j], -1, 1, NULL, 4));
      NN_TRY(ds_open_dset(sh, 2 * j + 1, ds_dnames[DS_PAIRS][2 * j + 1], sh->count + 1, 1, NULL, 8));
      NN_TRY(ds_load_offsets(sh, j, m->max_len));
    }
  }
  return NN_OK;
}

/* Shard file names of `split` found in dir: present[i] = 1 for index i of `count` (count agreed on by all). */
static nn_status ds_scan(struct ds_reader *r, const char *split, int *count, unsigned char **present) {
  DIR *d = opendir(r->dir);
  if (!d) return nn_fail(NN_ERR_IO, "%s: cannot open dataset directory: %s", r->dir, strerror(errno));
  struct dirent *e;
  char first[256] = "";
  nn_status s = NN_OK;
  *count = 0;
  *present = NULL;
  while (s == NN_OK && (e = readdir(d))) {
    char sp[16];
    int idx, cnt;
    if (ds_shard_parse(e->d_name, sp, &idx, &cnt) || strcmp(sp, split)) continue;
    if (cnt <= 0 || idx >= cnt)
      s = nn_fail(NN_ERR_FORMAT, "%s/%s: shard index out of range in the file name", r->dir, e->d_name);
    else if (*count && cnt != *count)
      s = nn_fail(NN_ERR_FORMAT, "%s: split '%s' mixes shard counts: %s and %s", r->dir, split, first, e->d_name);
    else if (!*count) {
      *count = cnt;
      snprintf(first, sizeof first, "%s", e->d_name);
      if (!(*present = calloc((size_t)cnt, 1))) s = nn_fail(NN_ERR_OOM, "%s: out of memory", r->dir);
    }
    if (s == NN_OK) (*present)[idx] = 1;
  }
  closedir(d);
  if (s != NN_OK) {
    free(*present);
    *present = NULL;
  }
  return s;
}

/* Every other split's shards must carry the same dataset id. */
static nn_status ds_check_other_ids(struct ds_reader *r) {
  char names[DS_MAX_SPLITS][16];
  int n;
  NN_TRY(ds_list_splits(r->dir, names, DS_MAX_SPLITS, &n));
  for (int i = 0; i < n; i++) {
    if (!strcmp(names[i], r->m.split)) continue;
    DIR *d = opendir(r->dir);
    struct dirent *e;
    nn_status s = NN_OK;
    while (s == NN_OK && d && (e = readdir(d))) {
      char sp[16], path[DS_PATH_MAX], id[64];
      int idx, cnt;
      if (ds_shard_parse(e->d_name, sp, &idx, &cnt) || strcmp(sp, names[i])) continue;
      snprintf(path, sizeof path, "%s/%s", r->dir, e->d_name);
      hid_t f;
      s = ds_open_file(path, &f);
      if (s != NN_OK) break;
      s = ds_check_format(f, path);
      if (s == NN_OK) s = ds_attr_get_str(f, path, "dataset_id", id, sizeof id);
      if (s == NN_OK && strcmp(id, r->m.id))
        s = nn_fail(NN_ERR_FORMAT, "%s: belongs to another dataset (id '%s', split '%s' has id '%s')", path, id,
                    r->m.split, r->m.id);
      H5Fclose(f);
    }
    if (d) closedir(d);
    if (s != NN_OK) return s;
  }
  return NN_OK;
}

static nn_status ds_open_locked(struct ds_reader *r, const char *split) {
  int nsh = 0;
  unsigned char *present = NULL;
  if (!ds_split_name_ok(split))
    return nn_fail(NN_ERR_ARG, "%s: bad split name '%s' (1-15 characters of a-z, 0-9, _)", r->dir, split);
  NN_TRY(ds_scan(r, split, &nsh, &present));
  if (nsh <= 0) {
    char names[DS_MAX_SPLITS][16], list[256] = "";
    int n = 0;
    ds_list_splits(r->dir, names, DS_MAX_SPLITS, &n);
    for (int i = 0; i < n; i++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
    return nn_fail(NN_ERR_FORMAT, "%s: no shards of split '%s' (splits here: %s)", r->dir, split, n ? list : "none");
  }
  for (int i = 0; i < nsh; i++)
    if (!present[i]) {
      char name[64];
      ds_shard_name(name, sizeof name, split, i, nsh);
      free(present);
      return nn_fail(NN_ERR_FORMAT, "%s/%s: missing (shard %d of %d of split '%s')", r->dir, name, i, nsh, split);
    }
  free(present);
  r->sh = calloc((size_t)nsh, sizeof *r->sh);
  if (!r->sh) return nn_fail(NN_ERR_OOM, "%s: out of memory", r->dir);
  r->m.nshards = nsh;
  for (int i = 0; i < nsh; i++) r->sh[i].f = r->sh[i].d[0] = r->sh[i].d[1] = r->sh[i].d[2] = r->sh[i].d[3] = H5I_INVALID_HID;
  int64_t split_count = 0, next = 0;
  for (int i = 0; i < nsh; i++) {
    struct ds_shard *sh = &r->sh[i];
    struct ds_meta m;
    struct ds_shard_attrs a;
    char name[64];
    ds_shard_name(name, sizeof name, split, i, nsh);
    snprintf(sh->path, sizeof sh->path, "%s/%s", r->dir, name);
    NN_TRY(ds_open_file(sh->path, &sh->f));
    nn_status s = ds_read_attrs(sh->f, sh->path, i ? &m : &r->m, &a);
    if (s == NN_OK && i == 0) r->m.nshards = nsh, split_count = a.split_count;
    const char *diff = s == NN_OK && i ? ds_meta_diff(&r->m, &m) : NULL;
    if (s == NN_OK && strcmp(i ? m.split : r->m.split, split))
      s = nn_fail(NN_ERR_FORMAT, "%s: holds split '%s', not '%s'", sh->path, i ? m.split : r->m.split, split);
    else if (s == NN_OK && i && strcmp(m.id, r->m.id))
      s = nn_fail(NN_ERR_FORMAT, "%s: belongs to another dataset (id '%s', shard 0 has '%s')", sh->path, m.id, r->m.id);
    else if (s == NN_OK && (a.index != i || a.nshards != nsh))
      s = nn_fail(NN_ERR_FORMAT, "%s: its attributes say shard %lld of %lld (a duplicated or renamed shard)", sh->path,
                  (long long)a.index, (long long)a.nshards);
    else if (s == NN_OK && diff)
      s = nn_fail(NN_ERR_FORMAT, "%s: %s differs from shard 0 of the split", sh->path, diff);
    else if (s == NN_OK && (a.first != next || a.split_count != split_count))
      s = nn_fail(NN_ERR_FORMAT, "%s: first_index %lld / split_count %lld do not follow the previous shards (%lld / %lld)",
                  sh->path, (long long)a.first, (long long)a.split_count, (long long)next, (long long)split_count);
    if (i) ds_meta_free(&m);
    NN_TRY(s);
    sh->first = a.first;
    sh->count = a.count;
    next += a.count;
    if (r->m.kind == DS_IMAGE) r->row_bytes = r->m.c * r->m.h * r->m.w;
    if (r->m.kind == DS_FEATURES) r->row_bytes = 4 * r->m.feature_dim;
    NN_TRY(ds_open_data(r, sh));
  }
  if (next != split_count)
    return nn_fail(NN_ERR_FORMAT, "%s: split '%s' count mismatch: the shards hold %lld, their split_count says %lld",
                   r->sh[nsh - 1].path, split, (long long)next, (long long)split_count);
  if (next == 0 || (r->m.kind == DS_TEXT && next < 2))
    return nn_fail(NN_ERR_FORMAT, "%s: split '%s' is empty", r->sh[0].path, split);
  r->m.count = next;
  return ds_check_other_ids(r);
}

nn_status ds_open(struct ds_reader **out, const char *dir, const char *split) {
  *out = NULL;
  struct ds_reader *r = calloc(1, sizeof *r);
  if (!r) return nn_fail(NN_ERR_OOM, "%s: out of memory", dir);
  if (strlen(dir) >= sizeof r->dir) {
    free(r);
    return nn_fail(NN_ERR_ARG, "%.200s...: dataset directory path too long", dir);
  }
  snprintf(r->dir, sizeof r->dir, "%s", dir);
  size_t n = strlen(r->dir);
  while (n > 1 && r->dir[n - 1] == '/') r->dir[--n] = 0;
  ds_h5_lock();
  nn_status s = ds_open_locked(r, split);
  ds_h5_unlock();
  if (s != NN_OK) {
    ds_close(r);
    return s;
  }
  *out = r;
  return NN_OK;
}

const struct ds_meta *ds_get_meta(const struct ds_reader *r) { return &r->m; }

void ds_close(struct ds_reader *r) {
  if (!r) return;
  ds_h5_lock();
  for (int i = 0; r->sh && i < r->m.nshards; i++) {
    struct ds_shard *sh = &r->sh[i];
    for (int k = 0; k < 4; k++)
      if (sh->d[k] >= 0) H5Dclose(sh->d[k]);
    if (sh->f >= 0) H5Fclose(sh->f);
    free(sh->off[0]);
    free(sh->off[1]);
  }
  ds_h5_unlock();
  free(r->sh);
  ds_meta_free(&r->m);
  free(r->tmp);
  free(r->req);
  free(r->runs);
  free(r);
}

int64_t ds_num_samples(const struct ds_reader *r, int64_t block) {
  if (r->m.kind != DS_TEXT) return r->m.count;
  return block >= 0 ? (r->m.count - 1) / (block + 1) : 0;
}

int64_t ds_reader_bytes(const struct ds_reader *r) {
  int64_t total = 0;
  for (int i = 0; i < r->m.nshards; i++) {
    struct stat st;
    if (stat(r->sh[i].path, &st) == 0) total += st.st_size;
  }
  return total;
}

/* ---------------- reading ---------------- */

static int ds_req_cmp(const void *pa, const void *pb) {
  const struct ds_req *a = pa, *b = pb;
  if (a->shard != b->shard) return a->shard < b->shard ? -1 : 1;
  if (a->start != b->start) return a->start < b->start ? -1 : 1;
  return (a->len > b->len) - (a->len < b->len);
}

static nn_status ds_reserve(struct ds_reader *r, int64_t nreq, size_t tmp_bytes) {
  if (nreq > r->req_cap) {
    void *p = realloc(r->req, sizeof *r->req * (size_t)nreq);
    void *q = p ? realloc(r->runs, 2 * sizeof(int64_t) * (size_t)nreq) : NULL;
    if (p) r->req = p;
    if (q) r->runs = q;
    if (!p || !q) return nn_fail(NN_ERR_OOM, "%s: out of memory for %lld read requests", r->dir, (long long)nreq);
    r->req_cap = nreq;
  }
  if (tmp_bytes > r->tmp_cap) {
    void *p = realloc(r->tmp, tmp_bytes);
    if (!p) return nn_fail(NN_ERR_OOM, "%s: out of memory for a %zu-byte read", r->dir, tmp_bytes);
    r->tmp = p, r->tmp_cap = tmp_bytes;
  }
  return NN_OK;
}

/* Shard holding global row g (binary search over first rows). */
static int64_t ds_shard_of(const struct ds_reader *r, int64_t g) {
  int64_t lo = 0, hi = r->m.nshards - 1;
  while (lo < hi) {
    int64_t mid = (lo + hi + 1) / 2;
    if (r->sh[mid].first <= g) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/* Select rows [start, start+len) of every trailing dim in fs (op: H5S_SELECT_SET or _OR). */
static herr_t ds_select_rows(hid_t fs, H5S_seloper_t op, int64_t start, int64_t len) {
  hsize_t dims[4] = {0, 1, 1, 1}, st[4] = {(hsize_t)start, 0, 0, 0}, cnt[4];
  int nd = H5Sget_simple_extent_ndims(fs);
  H5Sget_simple_extent_dims(fs, dims, NULL);
  cnt[0] = (hsize_t)len;
  for (int j = 1; j < nd; j++) cnt[j] = dims[j];
  return H5Sselect_hyperslab(fs, op, st, NULL, cnt, NULL);
}

/* out rows q[k].dst (row_bytes each) = dataset `di` rows [q[k].start, +len) of shard q[0].shard, for the
 * nq requests sorted by start (overlaps allowed). Contiguous datasets: one read of the union of the merged
 * runs. Chunked ones: one read per run, memory shaped like it (HDF5 maps an irregular union, or a
 * differently shaped memory space, onto chunks element by element).
 * With lo < hi the int32 values read must lie in [lo, hi). */
static nn_status ds_gather(struct ds_reader *r, struct ds_req *q, int64_t nq, int di, hid_t memtype, size_t row_bytes, void *out, int64_t lo, int64_t hi) {
  const struct ds_shard *sh = &r->sh[q[0].shard];
  int64_t total = 0, nrun = 0, *run = r->runs; /* run i: rows [run[2i], run[2i] + run[2i+1]) */
  for (int64_t k = 0; k < nq; k++) {
    if (q[k].len <= 0) continue;
    int64_t *last = nrun ? run + 2 * (nrun - 1) : NULL;
    if (last && q[k].start <= last[0] + last[1]) { /* joins the current run */
      q[k].src = total - last[1] + (q[k].start - last[0]);
      if (q[k].start + q[k].len > last[0] + last[1]) {
        total += q[k].start + q[k].len - (last[0] + last[1]);
        last[1] = q[k].start + q[k].len - last[0];
      }
      continue;
    }
    run[2 * nrun] = q[k].start, run[2 * nrun + 1] = q[k].len, nrun++;
    q[k].src = total;
    total += q[k].len;
  }
  nn_status s = nrun ? ds_reserve(r, 0, (size_t)total * row_bytes) : NN_OK;
  hid_t fs = H5Dget_space(sh->d[di]);
  hsize_t mdims[4] = {0, 1, 1, 1}; /* memory: rows x the trailing dims, so one run has the file's shape */
  int nd = H5Sget_simple_extent_ndims(fs);
  H5Sget_simple_extent_dims(fs, mdims, NULL);
  herr_t e = 0;
  for (int64_t i = 0, at = 0; s == NN_OK && e >= 0 && i < nrun; i++) {
    e = ds_select_rows(fs, sh->chunked[di] || i == 0 ? H5S_SELECT_SET : H5S_SELECT_OR, run[2 * i], run[2 * i + 1]);
    if (e >= 0 && (sh->chunked[di] || i == nrun - 1)) { /* read this run, or the whole union at the end */
      hsize_t flat = (hsize_t)total * (row_bytes / H5Tget_size(memtype)); /* the union: 1-D is fastest */
      mdims[0] = (hsize_t)run[2 * i + 1];
      hid_t ms = sh->chunked[di] ? H5Screate_simple(nd, mdims, NULL) : H5Screate_simple(1, &flat, NULL);
      e = H5Dread(sh->d[di], memtype, ms, fs, H5P_DEFAULT, (char *)r->tmp + (size_t)at * row_bytes);
      H5Sclose(ms);
      at += sh->chunked[di] ? run[2 * i + 1] : 0;
    }
  }
  if (s == NN_OK && e < 0)
    s = nn_fail(NN_ERR_HDF5, "%s: cannot read '%s': %s", sh->path, ds_dnames[r->m.kind][di], ds_h5_errdesc());
  H5Sclose(fs);
  if (s == NN_OK && lo < hi) {
    const int32_t *v = r->tmp;
    for (int64_t i = 0; i < total; i++)
      if (v[i] < lo || v[i] >= hi)
        return nn_fail(NN_ERR_FORMAT, "%s: dataset '%s' holds the value %d, outside [%lld,%lld)", sh->path,
                       ds_dnames[r->m.kind][di], v[i], (long long)lo, (long long)hi);
  }
  for (int64_t k = 0; s == NN_OK && k < nq; k++)
    if (q[k].len > 0)
      memcpy((char *)out + (size_t)q[k].dst * row_bytes, (char *)r->tmp + (size_t)q[k].src * row_bytes,
             (size_t)q[k].len * row_bytes);
  return s;
}

/* Sort r->req[0..nq) by (shard, start) and gather each shard's part into out. */
static nn_status ds_gather_all(struct ds_reader *r, int64_t nq, int di, hid_t memtype, size_t row_bytes, void *out, int64_t lo, int64_t hi) {
  qsort(r->req, (size_t)nq, sizeof *r->req, ds_req_cmp);
  for (int64_t a = 0, b; a < nq; a = b) {
    for (b = a; b < nq && r->req[b].shard == r->req[a].shard; b++) {}
    NN_TRY(ds_gather(r, r->req + a, b - a, di, memtype, row_bytes, out, lo, hi));
  }
  return NN_OK;
}

static nn_status ds_check_kind(const struct ds_reader *r, enum ds_kind k, const char *fn) {
  if (r->m.kind != k)
    return nn_fail(NN_ERR_ARG, "%s: %s on a dataset of kind '%s'", r->dir, fn, ds_kind_name(r->m.kind));
  return NN_OK;
}

static nn_status ds_check_idx(const struct ds_reader *r, const int64_t *idx, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (idx[i] < 0 || idx[i] >= r->m.count)
      return nn_fail(NN_ERR_ARG, "%s: example %lld outside split '%s' [0,%lld)", r->dir, (long long)idx[i], r->m.split,
                     (long long)r->m.count);
  return NN_OK;
}

/* Rows idx[0..n) of dataset 0 (images or features, row_bytes each) and their labels (dataset 1). */
static nn_status ds_read_images_locked(struct ds_reader *r, const int64_t *idx, int64_t n, uint8_t *pixels, int32_t *labels) {
  NN_TRY(ds_check_idx(r, idx, n));
  NN_TRY(ds_reserve(r, n, 0));
  for (int64_t i = 0; i < n; i++) {
    int64_t k = ds_shard_of(r, idx[i]);
    r->req[i] = (struct ds_req){k, idx[i] - r->sh[k].first, 1, i, 0};
  }
  NN_TRY(ds_gather_all(r, n, 0, r->m.kind == DS_FEATURES ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, (size_t)r->row_bytes, pixels, 0, 0));
  /* the requests are sorted now: labels use the same selection, no second sort */
  for (int64_t a = 0, b; a < n; a = b) {
    for (b = a; b < n && r->req[b].shard == r->req[a].shard; b++) {}
    NN_TRY(ds_gather(r, r->req + a, b - a, 1, H5T_NATIVE_INT32, 4, labels, 0, r->m.nclasses));
  }
  return NN_OK;
}

nn_status ds_read_images(struct ds_reader *r, const int64_t *idx, int64_t n, uint8_t *pixels, int32_t *labels) {
  ds_h5_lock();
  nn_status s = ds_check_kind(r, DS_IMAGE, "ds_read_images");
  if (s == NN_OK) s = ds_read_images_locked(r, idx, n, pixels, labels);
  ds_h5_unlock();
  return s;
}

nn_status ds_read_features(struct ds_reader *r, const int64_t *idx, int64_t n, float *x, int32_t *labels) {
  ds_h5_lock();
  nn_status s = ds_check_kind(r, DS_FEATURES, "ds_read_features");
  if (s == NN_OK) s = ds_read_images_locked(r, idx, n, (uint8_t *)x, labels);
  ds_h5_unlock();
  return s;
}

static nn_status ds_read_windows_locked(struct ds_reader *r, const int64_t *starts, int64_t n, int64_t len, int32_t *out) {
  NN_TRY(ds_check_kind(r, DS_TEXT, "ds_read_tokens"));
  int64_t nq = 0;
  for (int64_t i = 0; i < n; i++) {
    if (starts[i] < 0 || len < 0 || starts[i] + len > r->m.count)
      return nn_fail(NN_ERR_ARG, "%s: tokens [%lld,%lld) outside split '%s' [0,%lld)", r->dir, (long long)starts[i],
                     (long long)(starts[i] + len), r->m.split, (long long)r->m.count);
    if (len > 0) nq += ds_shard_of(r, starts[i] + len - 1) - ds_shard_of(r, starts[i]) + 1;
  }
  NN_TRY(ds_reserve(r, nq, 0));
  nq = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t g = starts[i], end = starts[i] + len; g < end;) {
      int64_t k = ds_shard_of(r, g), stop = r->sh[k].first + r->sh[k].count;
      int64_t piece = (end < stop ? end : stop) - g;
      r->req[nq++] = (struct ds_req){k, g - r->sh[k].first, piece, i * len + (g - starts[i]), 0};
      g += piece;
    }
  return ds_gather_all(r, nq, 0, H5T_NATIVE_INT32, 4, out, 0, r->m.vocab_size);
}

nn_status ds_read_windows(struct ds_reader *r, const int64_t *starts, int64_t n, int64_t len, int32_t *out) {
  ds_h5_lock();
  nn_status s = ds_read_windows_locked(r, starts, n, len, out);
  ds_h5_unlock();
  return s;
}

nn_status ds_read_tokens(struct ds_reader *r, int64_t start, int64_t len, int32_t *out) {
  return ds_read_windows(r, &start, 1, len, out);
}

static nn_status ds_read_pairs_locked(struct ds_reader *r, const int64_t *idx, int64_t n, int32_t *src, int32_t *tgt, int64_t max_len) {
  NN_TRY(ds_check_kind(r, DS_PAIRS, "ds_read_pairs"));
  NN_TRY(ds_check_idx(r, idx, n));
  if (max_len <= 0) return nn_fail(NN_ERR_ARG, "%s: ds_read_pairs with max_len %lld", r->dir, (long long)max_len);
  NN_TRY(ds_reserve(r, n, 0));
  int32_t *outs[2] = {src, tgt};
  int64_t lims[2] = {r->m.src_vocab_size, r->m.tgt_vocab_size};
  for (int j = 0; j < 2; j++) {
    for (int64_t i = 0; i < n * max_len; i++) outs[j][i] = r->m.pad_id;
    for (int64_t i = 0; i < n; i++) {
      int64_t k = ds_shard_of(r, idx[i]), e = idx[i] - r->sh[k].first;
      const int64_t *o = r->sh[k].off[j];
      int64_t l = o[e + 1] - o[e];
      r->req[i] = (struct ds_req){k, o[e], l < max_len ? l : max_len, i * max_len, 0};
    }
    NN_TRY(ds_gather_all(r, n, 2 * j, H5T_NATIVE_INT32, 4, outs[j], 0, lims[j]));
  }
  return NN_OK;
}

nn_status ds_read_pairs(struct ds_reader *r, const int64_t *idx, int64_t n, int32_t *src, int32_t *tgt, int64_t max_len) {
  ds_h5_lock();
  nn_status s = ds_read_pairs_locked(r, idx, n, src, tgt, max_len);
  ds_h5_unlock();
  return s;
}
