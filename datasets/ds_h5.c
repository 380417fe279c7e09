/* ds_h5: the process-wide HDF5 lock and attribute helpers (see ds_h5.h). */
#include "ds_h5.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t ds_h5_mu;
static pthread_once_t ds_h5_once = PTHREAD_ONCE_INIT;
static int ds_h5_depth;          /* lock depth of the owner (only the owner touches it) */
static H5E_auto2_t ds_h5_saved_fn;
static void *ds_h5_saved_data;

static void ds_h5_init(void) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&ds_h5_mu, &a);
  pthread_mutexattr_destroy(&a);
}

void ds_h5_lock(void) {
  pthread_once(&ds_h5_once, ds_h5_init);
  pthread_mutex_lock(&ds_h5_mu);
  if (ds_h5_depth++ == 0) {
    H5Eget_auto2(H5E_DEFAULT, &ds_h5_saved_fn, &ds_h5_saved_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  }
}

void ds_h5_unlock(void) {
  if (--ds_h5_depth == 0) H5Eset_auto2(H5E_DEFAULT, ds_h5_saved_fn, ds_h5_saved_data);
  pthread_mutex_unlock(&ds_h5_mu);
}

static herr_t ds_h5_walk(unsigned n, const H5E_error2_t *e, void *data) {
  if (e->desc && e->desc[0]) snprintf((char *)data, 256, "%s", e->desc); /* keep the innermost */
  return 0;
}

const char *ds_h5_errdesc(void) {
  static char buf[256];
  buf[0] = 0;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, ds_h5_walk, buf);
  return buf;
}

nn_status ds_h5_check_layout(hid_t d, const char *path, const char *name) {
  hid_t dcpl = H5Dget_create_plist(d);
  H5D_layout_t lay = dcpl < 0 ? H5D_LAYOUT_ERROR : H5Pget_layout(dcpl);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (lay != H5D_COMPACT) return NN_OK;
  hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
  hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
  size_t es = t < 0 ? 0 : H5Tget_size(t);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  hsize_t stored = H5Dget_storage_size(d);
  if (n < 0 || es == 0 || stored != (hsize_t)n * es)
    return nn_fail(NN_ERR_FORMAT, "%s: dataset %s is damaged: compact storage of %llu bytes for %lld elements of %zu bytes",
                   path, name, (unsigned long long)stored, (long long)n, es);
  return NN_OK;
}

nn_status ds_h5_check_numeric(hid_t d, const char *path, const char *name) {
  hid_t t = H5Dget_type(d);
  H5T_class_t c = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
  size_t es = t < 0 ? 0 : H5Tget_size(t);
  if (t >= 0) H5Tclose(t);
  if ((c == H5T_FLOAT || c == H5T_INTEGER) && es >= 1 && es <= 8) return NN_OK;
  return nn_fail(NN_ERR_FORMAT, "%s: dataset %s is not numeric (element type class %d of %zu bytes): damaged or not "
                 "a parameter", path, name, (int)c, es);
}

hid_t ds_h5_fapl(void) {
  hid_t p = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(p, H5F_LIBVER_V18, H5F_LIBVER_LATEST); /* dense storage: attributes > 64 KiB */
  H5Pset_sieve_buf_size(p, 4096); /* random row reads: do not pull 64 KiB around each row */
  return p;
}

/* ---- writing ---- */

static hid_t ds_utf8_vlen(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

static nn_status ds_attr_put(hid_t loc, const char *path, const char *name, hid_t type, hid_t space, const void *buf) {
  hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Awrite(a, type, buf);
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  if (e < 0) return nn_fail(NN_ERR_HDF5, "%s: cannot write attribute '%s': %s", path, name, ds_h5_errdesc());
  return NN_OK;
}

nn_status ds_attr_put_str(hid_t loc, const char *path, const char *name, const char *value) {
  hid_t t = ds_utf8_vlen();
  nn_status s = ds_attr_put(loc, path, name, t, H5Screate(H5S_SCALAR), &value);
  H5Tclose(t);
  return s;
}

nn_status ds_attr_put_i64(hid_t loc, const char *path, const char *name, int64_t v) {
  return ds_attr_put(loc, path, name, H5T_NATIVE_INT64, H5Screate(H5S_SCALAR), &v);
}

nn_status ds_attr_put_i64v(hid_t loc, const char *path, const char *name, const int64_t *v, int64_t n) {
  hsize_t d = (hsize_t)n;
  return ds_attr_put(loc, path, name, H5T_NATIVE_INT64, H5Screate_simple(1, &d, NULL), v);
}

nn_status ds_attr_put_f64v(hid_t loc, const char *path, const char *name, const double *v, int64_t n) {
  hsize_t d = (hsize_t)n;
  return ds_attr_put(loc, path, name, H5T_NATIVE_DOUBLE, H5Screate_simple(1, &d, NULL), v);
}

nn_status ds_attr_put_strv(hid_t loc, const char *path, const char *name, char *const *v, int64_t n) {
  hsize_t d = (hsize_t)n;
  hid_t t = ds_utf8_vlen();
  nn_status s = ds_attr_put(loc, path, name, t, H5Screate_simple(1, &d, NULL), v);
  H5Tclose(t);
  return s;
}

/* ---- reading ---- */

/* Open root attribute `name`; its element count in *n. */
static nn_status ds_attr_open(hid_t loc, const char *path, const char *name, hid_t *a, int64_t *n) {
  if (H5Aexists(loc, name) <= 0) return nn_fail(NN_ERR_FORMAT, "%s: missing root attribute '%s'", path, name);
  *a = H5Aopen(loc, name, H5P_DEFAULT);
  if (*a < 0) return nn_fail(NN_ERR_HDF5, "%s: cannot open attribute '%s': %s", path, name, ds_h5_errdesc());
  hid_t sp = H5Aget_space(*a);
  *n = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  return NN_OK;
}

/* n values of a numeric root attribute, read as `native` (H5T_NATIVE_INT64 or H5T_NATIVE_DOUBLE); an
 * integer attribute only, unless floats are accepted too */
static nn_status ds_attr_nums(hid_t loc, const char *path, const char *name, hid_t native, int floats, void *v,
                              int64_t n) {
  hid_t a = H5I_INVALID_HID;
  int64_t got = 0;
  NN_TRY(ds_attr_open(loc, path, name, &a, &got));
  hid_t t = H5Aget_type(a);
  H5T_class_t cls = H5Tget_class(t);
  H5Tclose(t);
  nn_status s = NN_OK;
  if (cls != H5T_INTEGER && !(floats && cls == H5T_FLOAT))
    s = nn_fail(NN_ERR_FORMAT, "%s: root attribute '%s' is not %s", path, name, floats ? "a number" : "an integer");
  else if (got != n)
    s = nn_fail(NN_ERR_FORMAT, "%s: root attribute '%s' has %lld values, expected %lld", path, name,
                (long long)got, (long long)n);
  else if (H5Aread(a, native, v) < 0)
    s = nn_fail(NN_ERR_HDF5, "%s: cannot read attribute '%s': %s", path, name, ds_h5_errdesc());
  H5Aclose(a);
  return s;
}

nn_status ds_attr_get_i64(hid_t loc, const char *path, const char *name, int64_t *v) {
  return ds_attr_nums(loc, path, name, H5T_NATIVE_INT64, 0, v, 1);
}

nn_status ds_attr_get_i64v(hid_t loc, const char *path, const char *name, int64_t *v, int64_t n) {
  return ds_attr_nums(loc, path, name, H5T_NATIVE_INT64, 0, v, n);
}

nn_status ds_attr_get_f64v(hid_t loc, const char *path, const char *name, double *v, int64_t n) {
  return ds_attr_nums(loc, path, name, H5T_NATIVE_DOUBLE, 1, v, n);
}

void ds_strv_free(char **v, int64_t n) {
  if (!v) return;
  for (int64_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

nn_status ds_attr_get_strv(hid_t loc, const char *path, const char *name, char ***out, int64_t *nout) {
  hid_t a = H5I_INVALID_HID;
  int64_t n = 0;
  *out = NULL;
  *nout = 0;
  NN_TRY(ds_attr_open(loc, path, name, &a, &n));
  hid_t ft = H5Aget_type(a);
  nn_status s = NN_OK;
  char **v = calloc((size_t)(n ? n : 1), sizeof *v);
  if (!v) s = nn_fail(NN_ERR_OOM, "%s: out of memory reading attribute '%s'", path, name);
  else if (H5Tget_class(ft) != H5T_STRING)
    s = nn_fail(NN_ERR_FORMAT, "%s: root attribute '%s' is not a string", path, name);
  else if (H5Tis_variable_str(ft) > 0) {
    hid_t mt = ds_utf8_vlen();
    char **raw = calloc((size_t)(n ? n : 1), sizeof *raw);
    int ok = raw && H5Aread(a, mt, raw) >= 0;
    if (!ok) s = nn_fail(NN_ERR_HDF5, "%s: cannot read attribute '%s': %s", path, name, ds_h5_errdesc());
    for (int64_t i = 0; ok && s == NN_OK && i < n; i++)
      if (!(v[i] = strdup(raw[i] ? raw[i] : ""))) s = nn_fail(NN_ERR_OOM, "%s: out of memory", path);
    if (ok) {
      hid_t sp = H5Aget_space(a);
      H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
      H5Sclose(sp);
    }
    free(raw);
    H5Tclose(mt);
  } else {
    size_t w = H5Tget_size(ft);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, w + 1);
    H5Tset_strpad(mt, H5T_STR_NULLTERM);
    char *raw = calloc((size_t)(n ? n : 1), w + 1);
    if (!raw || H5Aread(a, mt, raw) < 0)
      s = nn_fail(NN_ERR_HDF5, "%s: cannot read attribute '%s': %s", path, name, ds_h5_errdesc());
    for (int64_t i = 0; s == NN_OK && i < n; i++)
      if (!(v[i] = strdup(raw + (size_t)i * (w + 1)))) s = nn_fail(NN_ERR_OOM, "%s: out of memory", path);
    free(raw);
    H5Tclose(mt);
  }
  H5Tclose(ft);
  H5Aclose(a);
  if (s != NN_OK) {
    ds_strv_free(v, n);
    return s;
  }
  *out = v;
  *nout = n;
  return NN_OK;
}

nn_status ds_attr_get_str(hid_t loc, const char *path, const char *name, char *buf, size_t size) {
  char **v;
  int64_t n;
  NN_TRY(ds_attr_get_strv(loc, path, name, &v, &n));
  nn_status s = NN_OK;
  if (n != 1) s = nn_fail(NN_ERR_FORMAT, "%s: root attribute '%s' should be one string", path, name);
  else if (strlen(v[0]) >= size)
    s = nn_fail(NN_ERR_FORMAT, "%s: root attribute '%s' is longer than %zu bytes", path, name, size - 1);
  else memcpy(buf, v[0], strlen(v[0]) + 1);
  ds_strv_free(v, n);
  return s;
}
