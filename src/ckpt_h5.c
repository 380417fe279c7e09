/* ckpt_h5: the checkpoint files — meta.h5 (attributes + parameter table) and the per-rank shards
 * of the flat buffers (see ckpt.h for the layout). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ckpt_impl.h"
#include "task.h"
#include "ds_h5.h"
#include "nn_backend.h"
#include <zlib.h>

static const char *const BUF_NAMES[CKPT_NBUF] = {"params", "opt_m", "opt_v"};
static const char *const HAS_ATTR[CKPT_NBUF] = {"has_params", "has_opt_m", "has_opt_v"};

const char *ckpt_buf_name(enum ckpt_buf b) { return BUF_NAMES[b]; }

int64_t ckpt_buf_len(const struct ckpt_meta *m, enum ckpt_buf b) {
  return b == CKPT_PARAMS ? m->total : m->trainable;
}

void ckpt_shard_path(char *out, size_t len, const char *dir, int r, int n) {
  snprintf(out, len, "%s/shard-%05d-of-%05d.h5", dir, r, n);
}

nn_status ckpt_fsync(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return nn_fail(NN_ERR_IO, "%s: cannot open to flush: %s", path, strerror(errno));
  int rc = fsync(fd), e = errno;
  close(fd);
  if (rc != 0) return nn_fail(NN_ERR_IO, "%s: cannot flush to disk: %s", path, strerror(e));
  return NN_OK;
}

/* ---- small HDF5 helpers (lock held by the caller) ---- */

/* Create path with the latest format (a file left open by a killed writer then refuses to open). */
static hid_t create_latest(const char *path) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  return f;
}

/* Close a file being written, release what reserve() set aside beyond its end, flush it to disk;
 * errors (often a full disk) name it. */
static nn_status close_written(hid_t f, const char *path, nn_status st) {
  struct stat sb;
  if (H5Fclose(f) < 0 && st == NN_OK)
    st = nn_fail(NN_ERR_IO, "%s: cannot finish writing (disk full?): %s", path, ds_h5_errdesc());
  if (st == NN_OK && stat(path, &sb) == 0 && truncate(path, sb.st_size) != 0)
    st = nn_fail(NN_ERR_IO, "%s: cannot trim: %s", path, strerror(errno));
  if (st == NN_OK) st = ckpt_fsync(path);
  return st;
}

/* Dataset creation list: chunks of at most `chunk` rows (n > 0) with a Fletcher32 checksum; an HDF5
 * without the filter is an error naming path (never a silent loss of the checksums). */
static nn_status checked_dcpl(int64_t n, int64_t chunk, const char *path, hid_t *out) {
  hid_t p = H5Pcreate(H5P_DATASET_CREATE);
  *out = p;
  if (p < 0) return nn_fail(NN_ERR_HDF5, "%s: cannot create a dataset property list: %s", path, ds_h5_errdesc());
  if (n > 0) {
    hsize_t c = (hsize_t)(n < chunk ? n : chunk);
    if (H5Pset_chunk(p, 1, &c) < 0)
      return nn_fail(NN_ERR_HDF5, "%s: cannot set the chunk size: %s", path, ds_h5_errdesc());
    if (H5Zfilter_avail(H5Z_FILTER_FLETCHER32) <= 0 || H5Pset_fletcher32(p) < 0)
      return nn_fail(NN_ERR_HDF5, "%s: this HDF5 library cannot add the Fletcher32 checksum filter: "
                                  "checkpoints would be written without checksums", path);
  }
  return NN_OK;
}

static nn_status put_u64(hid_t loc, const char *path, const char *name, uint64_t v) {
  hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(loc, name, H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_UINT64, &v);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  if (e < 0) return nn_fail(NN_ERR_HDF5, "%s: cannot write attribute '%s': %s", path, name, ds_h5_errdesc());
  return NN_OK;
}

static nn_status get_u64(hid_t loc, const char *path, const char *name, uint64_t *v) {
  if (H5Aexists(loc, name) <= 0) return nn_fail(NN_ERR_FORMAT, "%s: missing attribute '%s'", path, name);
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Aread(a, H5T_NATIVE_UINT64, v);
  if (a >= 0) H5Aclose(a);
  if (e < 0) return nn_fail(NN_ERR_HDF5, "%s: cannot read attribute '%s': %s", path, name, ds_h5_errdesc());
  return NN_OK;
}

/* Check the root attribute format (and version) of an open file. */
static nn_status check_format(hid_t f, const char *path, const char *want) {
  char fmt[64];
  int64_t ver = 0;
  NN_TRY(ds_attr_get_str(f, path, "format", fmt, sizeof fmt));
  if (strcmp(fmt, want) != 0)
    return nn_fail(NN_ERR_FORMAT, "%s: format is '%s', expected '%s'", path, fmt, want);
  NN_TRY(ds_attr_get_i64(f, path, "version", &ver));
  if (ver < 1 || ver > CKPT_VERSION)
    return nn_fail(NN_ERR_FORMAT, "%s: checkpoint format version %lld, this program reads 1 to %d", path,
                   (long long)ver, CKPT_VERSION);
  return NN_OK;
}

static hid_t open_read(const char *path) {
  if (access(path, F_OK) != 0) return H5I_INVALID_HID;
  return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
}

static nn_status open_fail(const char *path) {
  if (access(path, F_OK) != 0) return nn_fail(NN_ERR_IO, "%s: missing (%s)", path, strerror(errno));
  return nn_fail(NN_ERR_FORMAT, "%s: cannot open (truncated, damaged or its writer was killed): %s", path,
                 ds_h5_errdesc());
}

/* ---- meta.h5 ---- */

/* One row of the "params" table as stored. */
struct row {
  char name[NN_NAME_MAX];
  int32_t ndim;
  int64_t shape[NN_MAX_DIM];
  int64_t offset, numel;
  int32_t trainable, decay, buffer;
};

/* The compound type of struct row (memory layout; H5Tpack'ed for the file when pack). */
static hid_t row_type(int pack) {
  hid_t s = H5Tcopy(H5T_C_S1), a;
  hsize_t four = NN_MAX_DIM;
  H5Tset_size(s, NN_NAME_MAX);
  H5Tset_strpad(s, H5T_STR_NULLTERM);
  a = H5Tarray_create2(H5T_NATIVE_INT64, 1, &four);
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(struct row));
  H5Tinsert(t, "name", HOFFSET(struct row, name), s);
  H5Tinsert(t, "ndim", HOFFSET(struct row, ndim), H5T_NATIVE_INT32);
  H5Tinsert(t, "shape", HOFFSET(struct row, shape), a);
  H5Tinsert(t, "offset", HOFFSET(struct row, offset), H5T_NATIVE_INT64);
  H5Tinsert(t, "numel", HOFFSET(struct row, numel), H5T_NATIVE_INT64);
  H5Tinsert(t, "trainable", HOFFSET(struct row, trainable), H5T_NATIVE_INT32);
  H5Tinsert(t, "decay", HOFFSET(struct row, decay), H5T_NATIVE_INT32);
  H5Tinsert(t, "buffer", HOFFSET(struct row, buffer), H5T_NATIVE_INT32);
  if (pack) H5Tpack(t);
  H5Tclose(s);
  H5Tclose(a);
  return t;
}

static nn_status meta_attrs_write(hid_t f, const char *path, const struct ckpt_meta *m) {
  const struct ckpt_state *s = &m->s;
  NN_TRY(ds_attr_put_str(f, path, "format", CKPT_FORMAT));
  NN_TRY(ds_attr_put_i64(f, path, "version", CKPT_VERSION));
  NN_TRY(ds_attr_put_str(f, path, "model", s->model));
  NN_TRY(ds_attr_put_str(f, path, "config", s->config_json));
  NN_TRY(ds_attr_put_i64(f, path, "step", s->step));
  NN_TRY(ds_attr_put_i64(f, path, "epoch", s->epoch));
  NN_TRY(ds_attr_put_i64(f, path, "sampler_epoch", s->sampler_epoch));
  NN_TRY(ds_attr_put_i64(f, path, "sampler_offset", s->sampler_offset));
  NN_TRY(put_u64(f, path, "seed", s->seed));
  NN_TRY(ds_attr_put_i64(f, path, "nranks", s->nranks));
  NN_TRY(ds_attr_put_str(f, path, "optimizer", m->optimizer));
  NN_TRY(ds_attr_put_i64(f, path, "optimizer_t", m->opt_t));
  NN_TRY(ds_attr_put_i64(f, path, "total", m->total));
  NN_TRY(ds_attr_put_i64(f, path, "trainable", m->trainable));
  for (int b = CKPT_OPT_M; b < CKPT_NBUF; b++) NN_TRY(ds_attr_put_i64(f, path, HAS_ATTR[b], m->has[b]));
  NN_TRY(ds_attr_put_str(f, path, "run_id", s->run_id));
  NN_TRY(ds_attr_put_i64(f, path, "seq", s->seq));
  NN_TRY(ds_attr_put_i64(f, path, "time_us", (int64_t)(m->time * 1e6)));
  return NN_OK;
}

/* The shard table: dataset "shards" (nranks x 2 int64: size in bytes, CRC-32). */
static nn_status meta_shards_write(hid_t f, const char *path, const struct ckpt_meta *m) {
  int n = m->s.nranks;
  int64_t *v = malloc(sizeof *v * 2 * (size_t)n);
  if (!v) return nn_fail(NN_ERR_OOM, "%s: out of memory", path);
  for (int r = 0; r < n; r++) v[2 * r] = m->shard_bytes[r], v[2 * r + 1] = m->shard_crc[r];
  hsize_t dims[2] = {(hsize_t)n, 2};
  hid_t sp = H5Screate_simple(2, dims, NULL), d = H5Dcreate2(f, "shards", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  nn_status st = NN_OK;
  if (d < 0 || H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
    st = nn_fail(NN_ERR_IO, "%s: cannot write the shard table: %s", path, ds_h5_errdesc());
  if (d >= 0) H5Dclose(d);
  H5Sclose(sp);
  free(v);
  return st;
}

static nn_status meta_table_write(hid_t f, const char *path, const struct ckpt_meta *m) {
  struct row *rows = calloc((size_t)(m->n ? m->n : 1), sizeof *rows);
  if (!rows) return nn_fail(NN_ERR_OOM, "%s: out of memory writing the parameter table", path);
  for (int i = 0; i < m->n; i++) {
    const struct nn_param *p = &m->table[i];
    struct row *r = &rows[i];
    snprintf(r->name, sizeof r->name, "%s", p->name);
    r->ndim = p->t.ndim;
    for (int d = 0; d < NN_MAX_DIM; d++) r->shape[d] = d < p->t.ndim ? p->t.shape[d] : 0;
    r->offset = p->offset;
    r->numel = p->t.numel;
    r->trainable = p->trainable;
    r->decay = p->decay;
    r->buffer = p->buffer;
  }
  hsize_t n = (hsize_t)m->n;
  hid_t mt = row_type(0), ft = row_type(1), sp = H5Screate_simple(1, &n, NULL), dcpl;
  nn_status st = checked_dcpl(m->n, 4096, path, &dcpl);
  hid_t d = st != NN_OK ? H5I_INVALID_HID : H5Dcreate2(f, "params", ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (st != NN_OK) {
  } else if (d < 0 || H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)
    st = nn_fail(NN_ERR_IO, "%s: cannot write the parameter table: %s", path, ds_h5_errdesc());
  if (d >= 0) H5Dclose(d);
  if (dcpl >= 0) H5Pclose(dcpl);
  H5Sclose(sp);
  H5Tclose(ft);
  H5Tclose(mt);
  free(rows);
  return st;
}

nn_status ckpt_meta_write(const char *dir, const struct ckpt_meta *m) {
  char path[CKPT_PATH];
  snprintf(path, sizeof path, "%s/meta.h5", dir);
  ds_h5_lock();
  hid_t f = create_latest(path);
  nn_status st = NN_OK;
  if (f < 0) st = nn_fail(NN_ERR_IO, "%s: cannot create: %s", path, ds_h5_errdesc());
  else {
    st = meta_attrs_write(f, path, m);
    if (st == NN_OK) st = meta_table_write(f, path, m);
    if (st == NN_OK && m->shard_bytes) st = meta_shards_write(f, path, m);
    if (st == NN_OK && m->s.data) st = task_meta_write(f, path, m->s.data);
    st = close_written(f, path, st);
  }
  ds_h5_unlock();
  return st;
}

static nn_status meta_attrs_read(hid_t f, const char *path, struct ckpt_meta *m) {
  struct ckpt_state *s = &m->s;
  int64_t v;
  NN_TRY(check_format(f, path, CKPT_FORMAT));
  NN_TRY(ds_attr_get_i64(f, path, "version", &v));
  m->version = (int)v;
  NN_TRY(ds_attr_get_str(f, path, "model", s->model, sizeof s->model));
  NN_TRY(ds_attr_get_str(f, path, "config", s->config_json, sizeof s->config_json));
  NN_TRY(ds_attr_get_i64(f, path, "step", &s->step));
  NN_TRY(ds_attr_get_i64(f, path, "epoch", &s->epoch));
  NN_TRY(ds_attr_get_i64(f, path, "sampler_epoch", &s->sampler_epoch));
  NN_TRY(ds_attr_get_i64(f, path, "sampler_offset", &s->sampler_offset));
  NN_TRY(get_u64(f, path, "seed", &s->seed));
  NN_TRY(ds_attr_get_i64(f, path, "nranks", &v));
  if (v < 1 || v > 99999) return nn_fail(NN_ERR_FORMAT, "%s: bad nranks %lld", path, (long long)v);
  s->nranks = (int)v;
  NN_TRY(ds_attr_get_str(f, path, "optimizer", m->optimizer, sizeof m->optimizer));
  NN_TRY(ds_attr_get_i64(f, path, "optimizer_t", &m->opt_t));
  NN_TRY(ds_attr_get_i64(f, path, "total", &m->total));
  NN_TRY(ds_attr_get_i64(f, path, "trainable", &m->trainable));
  if (m->total < 0 || m->trainable < 0 || m->trainable > m->total)
    return nn_fail(NN_ERR_FORMAT, "%s: bad sizes total %lld, trainable %lld", path, (long long)m->total,
                   (long long)m->trainable);
  m->has[CKPT_PARAMS] = 1;
  for (int b = CKPT_OPT_M; b < CKPT_NBUF; b++) {
    NN_TRY(ds_attr_get_i64(f, path, HAS_ATTR[b], &v));
    m->has[b] = v != 0;
  }
  if (m->version < 2) return NN_OK;
  NN_TRY(ds_attr_get_str(f, path, "run_id", s->run_id, sizeof s->run_id));
  NN_TRY(ds_attr_get_i64(f, path, "seq", &s->seq));
  NN_TRY(ds_attr_get_i64(f, path, "time_us", &v));
  m->time = (double)v / 1e6;
  return NN_OK;
}

static nn_status meta_shards_read(hid_t f, const char *path, struct ckpt_meta *m) {
  int n = m->s.nranks;
  if (H5Lexists(f, "shards", H5P_DEFAULT) <= 0)
    return nn_fail(NN_ERR_FORMAT, "%s: no dataset 'shards' (the shard sizes and checksums)", path);
  hid_t d = H5Dopen2(f, "shards", H5P_DEFAULT), sp = d < 0 ? -1 : H5Dget_space(d);
  hsize_t dims[2] = {0, 0};
  int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
  if (nd == 2) H5Sget_simple_extent_dims(sp, dims, NULL);
  if (sp >= 0) H5Sclose(sp);
  int64_t *v = NULL;
  nn_status st = NN_OK;
  if (d < 0 || nd != 2 || dims[0] != (hsize_t)n || dims[1] != 2)
    st = nn_fail(NN_ERR_FORMAT, "%s: the shard table is not %d x 2", path, n);
  else if (!(v = malloc(sizeof *v * 2 * (size_t)n)) || !(m->shard_bytes = malloc(sizeof *m->shard_bytes * (size_t)n)) ||
           !(m->shard_crc = malloc(sizeof *m->shard_crc * (size_t)n)))
    st = nn_fail(NN_ERR_OOM, "%s: out of memory", path);
  else if (H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
    st = nn_fail(NN_ERR_FORMAT, "%s: cannot read the shard table: %s", path, ds_h5_errdesc());
  for (int r = 0; st == NN_OK && r < n; r++) {
    if (v[2 * r] < 0 || v[2 * r + 1] < 0 || v[2 * r + 1] > 0xffffffffll)
      st = nn_fail(NN_ERR_FORMAT, "%s: shard table row %d is damaged", path, r);
    m->shard_bytes[r] = v[2 * r];
    m->shard_crc[r] = (uint32_t)v[2 * r + 1];
  }
  if (d >= 0) H5Dclose(d);
  free(v);
  return st;
}

/* Check one stored row and turn it into m->table[i]: its view must lie in the flat buffer (trainable
 * ones in [0, trainable)); *sum and *sum_tr add up its elements. */
static nn_status row_to_param(const char *path, const struct ckpt_meta *m, const struct row *r, int i, int64_t *sum,
                              int64_t *sum_tr, struct nn_param *p) {
  if (r->ndim < 0 || r->ndim > NN_MAX_DIM || memchr(r->name, 0, sizeof r->name) == NULL)
    return nn_fail(NN_ERR_FORMAT, "%s: parameter table row %d is damaged", path, i);
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", r->name);
  nn_tensor_set_shape(&p->t, r->ndim, r->shape);
  p->t.dtype = NN_F32;
  p->t.name = p->name;
  p->offset = r->offset;
  p->trainable = r->trainable;
  p->decay = r->decay;
  p->buffer = r->buffer;
  int64_t end = r->trainable ? m->trainable : m->total;
  if (p->t.numel != r->numel || r->offset < 0 || r->offset + r->numel > end)
    return nn_fail(NN_ERR_FORMAT, "%s: parameter table row %d ('%s') has an inconsistent offset or size", path, i,
                   r->name);
  *sum += r->numel;
  if (r->trainable) *sum_tr += r->numel;
  return NN_OK;
}

static nn_status meta_table_read(hid_t f, const char *path, struct ckpt_meta *m) {
  if (H5Lexists(f, "params", H5P_DEFAULT) <= 0)
    return nn_fail(NN_ERR_FORMAT, "%s: no dataset 'params' (the parameter table)", path);
  hid_t d = H5Dopen2(f, "params", H5P_DEFAULT), sp = d < 0 ? -1 : H5Dget_space(d);
  hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
  if (sp >= 0) H5Sclose(sp);
  if (n < 0 || n > 1000000) {
    if (d >= 0) H5Dclose(d);
    return nn_fail(NN_ERR_FORMAT, "%s: unreadable parameter table: %s", path, ds_h5_errdesc());
  }
  struct row *rows = calloc((size_t)(n ? n : 1), sizeof *rows);
  m->table = calloc((size_t)(n ? n : 1), sizeof *m->table);
  hid_t mt = row_type(0);
  nn_status st = NN_OK;
  if (!rows || !m->table) st = nn_fail(NN_ERR_OOM, "%s: out of memory reading the parameter table", path);
  else if (n > 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)
    st = nn_fail(NN_ERR_FORMAT, "%s: cannot read the parameter table (checksum?): %s", path, ds_h5_errdesc());
  H5Tclose(mt);
  H5Dclose(d);
  int64_t off = 0, trainable = 0;
  for (int i = 0; st == NN_OK && i < (int)n; i++) st = row_to_param(path, m, &rows[i], i, &off, &trainable, &m->table[i]);
  m->n = (int)n;
  free(rows);
  if (st == NN_OK && (off != m->total || trainable != m->trainable))
    st = nn_fail(NN_ERR_FORMAT, "%s: parameter table covers %lld elements (%lld trainable), attributes say %lld (%lld)",
                 path, (long long)off, (long long)trainable, (long long)m->total, (long long)m->trainable);
  return st;
}

nn_status ckpt_meta_read(const char *dir, struct ckpt_meta *m) {
  char path[CKPT_PATH];
  snprintf(path, sizeof path, "%s/meta.h5", dir);
  memset(m, 0, sizeof *m);
  ds_h5_lock();
  hid_t f = open_read(path);
  nn_status st = f < 0 ? open_fail(path) : meta_attrs_read(f, path, m);
  if (st == NN_OK) st = meta_table_read(f, path, m);
  if (st == NN_OK && m->version >= 2) st = meta_shards_read(f, path, m);
  if (f >= 0) H5Fclose(f);
  ds_h5_unlock();
  if (st != NN_OK) ckpt_meta_free(m);
  return st;
}

void ckpt_meta_free(struct ckpt_meta *m) {
  free(m->table);
  free(m->shard_bytes);
  free(m->shard_crc);
  m->shard_bytes = NULL;
  m->shard_crc = NULL;
  m->table = NULL;
  m->n = 0;
}

/* ---- shards ---- */

/* Write one slice as a chunked, checksummed 1-D dataset, a chunk at a time through the bounce buffer tmp. */
static nn_status slice_write(hid_t f, const char *path, const char *name, const struct ckpt_slice *sl,
                             const struct nn_backend *be, float *tmp) {
  hsize_t n = (hsize_t)sl->count;
  hid_t sp = H5Screate_simple(1, &n, NULL), dcpl, d = H5I_INVALID_HID;
  nn_status st = checked_dcpl(sl->count, CKPT_CHUNK, path, &dcpl);
  if (st == NN_OK) d = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (st == NN_OK && d < 0) st = nn_fail(NN_ERR_IO, "%s: cannot create dataset '%s': %s", path, name, ds_h5_errdesc());
  for (int64_t i = 0; st == NN_OK && i < sl->count; i += CKPT_CHUNK) {
    hsize_t off = (hsize_t)i, k = (hsize_t)(sl->count - i < CKPT_CHUNK ? sl->count - i : CKPT_CHUNK);
    nn_be_to_host(be, tmp, sl->x + i, sizeof(float) * k);
    hid_t ms = H5Screate_simple(1, &k, NULL);
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, &off, NULL, &k, NULL);
    if (H5Dwrite(d, H5T_NATIVE_FLOAT, ms, sp, H5P_DEFAULT, tmp) < 0)
      st = nn_fail(NN_ERR_IO, "%s: cannot write dataset '%s' (disk full?): %s", path, name, ds_h5_errdesc());
    H5Sclose(ms);
  }
  if (st == NN_OK) st = ds_attr_put_i64(d, path, "start", sl->start);
  if (st == NN_OK) st = ds_attr_put_i64(d, path, "count", sl->count);
  if (st == NN_OK) st = ds_attr_put_i64(d, path, "total", sl->total);
  if (d >= 0) H5Dclose(d);
  if (dcpl >= 0) H5Pclose(dcpl);
  H5Sclose(sp);
  return st;
}

static nn_status shard_attrs_write(hid_t f, const char *path, int r, int n, int64_t step) {
  NN_TRY(ds_attr_put_str(f, path, "format", CKPT_SHARD_FORMAT));
  NN_TRY(ds_attr_put_i64(f, path, "version", CKPT_VERSION));
  NN_TRY(ds_attr_put_i64(f, path, "shard", r));
  NN_TRY(ds_attr_put_i64(f, path, "nshards", n));
  return ds_attr_put_i64(f, path, "step", step);
}

int64_t ckpt_shard_bytes(int64_t elements) {
  return 4 * elements + 65536 + 32 * (elements / CKPT_CHUNK + 3);
}

/* Make sure bytes fit in path before HDF5 writes them: the file size limit (ulimit -f) and disk space,
 * reserved (fallocate, size unchanged) where the file system supports it. HDF5 1.10 cannot recover from
 * a failed write while closing a file (the handle stays broken until exit), so a full disk is best
 * caught here. */
static nn_status reserve(const char *path, int64_t bytes) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && (uint64_t)bytes > lim.rlim_cur)
    return nn_fail(NN_ERR_IO, "%s: needs %.1f MB but the file size limit (ulimit -f) is %.1f MB", path, bytes / 1e6,
                   (double)lim.rlim_cur / 1e6);
  int fd = open(path, O_WRONLY);
  if (fd < 0) return nn_fail(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  int rc = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)bytes), e = errno;
  close(fd);
  if (rc != 0 && (e == ENOSPC || e == EDQUOT || e == EFBIG))
    return nn_fail(NN_ERR_IO, "%s: no room for %.1f MB: %s", path, bytes / 1e6, strerror(e));
  return NN_OK; /* EOPNOTSUPP etc.: no reservation on this file system */
}

nn_status ckpt_shard_write(const char *dir, int r, int n, int64_t step, const struct ckpt_slice sl[CKPT_NBUF],
                           const struct nn_backend *be) {
  char path[CKPT_PATH];
  ckpt_shard_path(path, sizeof path, dir, r, n);
  float *tmp = malloc(sizeof(float) * (size_t)CKPT_CHUNK);
  if (!tmp) return nn_fail(NN_ERR_OOM, "%s: out of memory", path);
  ds_h5_lock();
  hid_t f = create_latest(path);
  nn_status st = NN_OK;
  if (f < 0) st = nn_fail(NN_ERR_IO, "%s: cannot create: %s", path, ds_h5_errdesc());
  else {
    int64_t elements = 0;
    for (int b = 0; b < CKPT_NBUF; b++) elements += sl[b].x ? sl[b].count : 0;
    st = reserve(path, ckpt_shard_bytes(elements));
    if (st == NN_OK) st = shard_attrs_write(f, path, r, n, step);
    for (int b = 0; st == NN_OK && b < CKPT_NBUF; b++)
      if (sl[b].x) st = slice_write(f, path, BUF_NAMES[b], &sl[b], be, tmp);
    st = close_written(f, path, st);
  }
  ds_h5_unlock();
  free(tmp);
  return st;
}

/* Open shard r of checkpoint dir (lock held) and check that it belongs to it. */
static nn_status shard_open(const char *dir, const struct ckpt_meta *m, int r, char *path, size_t len, hid_t *f) {
  ckpt_shard_path(path, len, dir, r, m->s.nranks);
  *f = open_read(path);
  if (*f < 0) return open_fail(path);
  int64_t shard = -1, nshards = -1, step = -1;
  nn_status st = check_format(*f, path, CKPT_SHARD_FORMAT);
  if (st == NN_OK) st = ds_attr_get_i64(*f, path, "shard", &shard);
  if (st == NN_OK) st = ds_attr_get_i64(*f, path, "nshards", &nshards);
  if (st == NN_OK) st = ds_attr_get_i64(*f, path, "step", &step);
  if (st == NN_OK && (shard != r || nshards != m->s.nranks || step != m->s.step))
    st = nn_fail(NN_ERR_FORMAT, "%s: is shard %lld of %lld at step %lld, expected shard %d of %d at step %lld", path,
                 (long long)shard, (long long)nshards, (long long)step, r, m->s.nranks, (long long)m->s.step);
  if (st != NN_OK) {
    H5Fclose(*f);
    *f = H5I_INVALID_HID;
  }
  return st;
}

/* Open dataset of buffer b in shard r (lock held) and check it holds the expected slice. */
static nn_status slice_open(hid_t f, const char *path, const struct ckpt_meta *m, enum ckpt_buf b, int r, hid_t *d,
                            int64_t *start, int64_t *count) {
  int64_t n = ckpt_buf_len(m, b), s0 = -1, c0 = -1, t0 = -1;
  *start = ckpt_slice_start(n, r, m->s.nranks);
  *count = ckpt_slice_start(n, r + 1, m->s.nranks) - *start;
  if (H5Lexists(f, BUF_NAMES[b], H5P_DEFAULT) <= 0)
    return nn_fail(NN_ERR_FORMAT, "%s: no dataset '%s'", path, BUF_NAMES[b]);
  *d = H5Dopen2(f, BUF_NAMES[b], H5P_DEFAULT);
  if (*d < 0) return nn_fail(NN_ERR_FORMAT, "%s: cannot open dataset '%s': %s", path, BUF_NAMES[b], ds_h5_errdesc());
  hid_t sp = H5Dget_space(*d);
  hssize_t len = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  nn_status st = ds_attr_get_i64(*d, path, "start", &s0);
  if (st == NN_OK) st = ds_attr_get_i64(*d, path, "count", &c0);
  if (st == NN_OK) st = ds_attr_get_i64(*d, path, "total", &t0);
  if (st == NN_OK && (s0 != *start || c0 != *count || t0 != n || len != *count))
    st = nn_fail(NN_ERR_FORMAT, "%s: dataset '%s' holds [%lld, +%lld) of %lld, expected [%lld, +%lld) of %lld", path,
                 BUF_NAMES[b], (long long)s0, (long long)c0, (long long)t0, (long long)*start, (long long)*count,
                 (long long)n);
  if (st != NN_OK) H5Dclose(*d);
  return st;
}

/* Read elements [lo, lo+k) of the slice in dataset d (which starts at start) into out. */
static nn_status slice_read(hid_t d, const char *path, const char *name, int64_t lo, int64_t k, float *out) {
  if (k <= 0) return NN_OK;
  hsize_t off = (hsize_t)lo, cnt = (hsize_t)k;
  hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &cnt, NULL);
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, &off, NULL, &cnt, NULL);
  nn_status st = NN_OK;
  if (H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out) < 0)
    st = nn_fail(NN_ERR_FORMAT, "%s: cannot read dataset '%s' (checksum mismatch or truncated): %s", path, name,
                 ds_h5_errdesc());
  H5Sclose(ms);
  H5Sclose(fs);
  return st;
}

nn_status ckpt_read_range(const char *dir, const struct ckpt_meta *m, enum ckpt_buf which, int64_t a, int64_t b,
                          float *host) {
  if (!m->has[which]) return nn_fail(NN_ERR_FORMAT, "%s/meta.h5: checkpoint holds no '%s'", dir, BUF_NAMES[which]);
  int64_t n = ckpt_buf_len(m, which);
  nn_status st = NN_OK;
  ds_h5_lock();
  for (int r = 0; st == NN_OK && r < m->s.nranks && a < b; r++) {
    int64_t s = ckpt_slice_start(n, r, m->s.nranks), e = ckpt_slice_start(n, r + 1, m->s.nranks);
    int64_t lo = a > s ? a : s, hi = b < e ? b : e;
    if (lo >= hi) continue;
    char path[CKPT_PATH];
    hid_t f, d;
    int64_t start, count;
    st = shard_open(dir, m, r, path, sizeof path, &f);
    if (st != NN_OK) break;
    st = slice_open(f, path, m, which, r, &d, &start, &count);
    if (st == NN_OK) {
      st = slice_read(d, path, BUF_NAMES[which], lo - start, hi - lo, host + lo);
      H5Dclose(d);
    }
    H5Fclose(f);
  }
  ds_h5_unlock();
  return st;
}

nn_status ckpt_shard_verify(const char *dir, const struct ckpt_meta *m, int r) {
  char path[CKPT_PATH];
  hid_t f;
  float *tmp = malloc(sizeof(float) * (size_t)CKPT_CHUNK);
  if (!tmp) return nn_fail(NN_ERR_OOM, "out of memory verifying %s", dir);
  ds_h5_lock();
  nn_status st = shard_open(dir, m, r, path, sizeof path, &f);
  for (int b = 0; st == NN_OK && b < CKPT_NBUF; b++) {
    if (!m->has[b]) continue;
    hid_t d;
    int64_t start, count;
    st = slice_open(f, path, m, (enum ckpt_buf)b, r, &d, &start, &count);
    if (st != NN_OK) break;
    for (int64_t i = 0; st == NN_OK && i < count; i += CKPT_CHUNK)
      st = slice_read(d, path, BUF_NAMES[b], i, count - i < CKPT_CHUNK ? count - i : CKPT_CHUNK, tmp);
    H5Dclose(d);
  }
  if (f >= 0) H5Fclose(f);
  ds_h5_unlock();
  free(tmp);
  return st;
}

nn_status ckpt_file_crc(const char *path, int64_t *bytes, uint32_t *crc) {
  FILE *f = fopen(path, "rb");
  if (!f) return nn_fail(NN_ERR_IO, "%s: missing (%s)", path, strerror(errno));
  unsigned char *buf = malloc(1 << 20);
  if (!buf) {
    fclose(f);
    return nn_fail(NN_ERR_OOM, "%s: out of memory", path);
  }
  uLong c = crc32(0L, Z_NULL, 0);
  int64_t total = 0;
  for (size_t k; (k = fread(buf, 1, 1 << 20, f)) > 0;) {
    c = crc32(c, buf, (uInt)k);
    total += (int64_t)k;
  }
  int err = ferror(f);
  fclose(f);
  free(buf);
  if (err) return nn_fail(NN_ERR_IO, "%s: read error", path);
  *bytes = total;
  *crc = (uint32_t)c;
  return NN_OK;
}

nn_status ckpt_check_complete(const char *dir, struct ckpt_meta *m, int first, int stride) {
  NN_TRY(ckpt_meta_read(dir, m));
  for (int r = first; r < m->s.nranks; r += stride) {
    if (!m->shard_bytes) { /* version 1: no shard table, read every dataset */
      NN_TRY(ckpt_shard_verify(dir, m, r));
      continue;
    }
    char path[CKPT_PATH];
    struct stat sb;
    ckpt_shard_path(path, sizeof path, dir, r, m->s.nranks);
    if (stat(path, &sb) != 0) return nn_fail(NN_ERR_IO, "%s: missing (%s)", path, strerror(errno));
    if ((int64_t)sb.st_size != m->shard_bytes[r])
      return nn_fail(NN_ERR_FORMAT, "%s: %lld bytes, meta.h5 records %lld (truncated or replaced)", path,
                     (long long)sb.st_size, (long long)m->shard_bytes[r]);
    int64_t bytes;
    uint32_t crc;
    NN_TRY(ckpt_file_crc(path, &bytes, &crc));
    if (bytes != m->shard_bytes[r] || crc != m->shard_crc[r])
      return nn_fail(NN_ERR_FORMAT, "%s: CRC-32 %08x, meta.h5 records %08x (checksum mismatch: damaged)", path, crc, m->shard_crc[r]);
  }
  return NN_OK;
}
