/* export: one plain HDF5 file with a float32 dataset per dotted parameter name (see export.h). */
#include "export.h"
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ds_h5.h"
#include "nn_backend.h"
#include "task.h"

static nn_status write_attrs(hid_t f, const char *tmp, const char *model, const char *json, int64_t step) {
  NN_TRY(ds_attr_put_str(f, tmp, "format", "attn_train-params"));
  NN_TRY(ds_attr_put_str(f, tmp, "model", model));
  NN_TRY(ds_attr_put_str(f, tmp, "config", json));
  if (step >= 0) NN_TRY(ds_attr_put_i64(f, tmp, "step", step));
  return NN_OK;
}

static nn_status write_tensor(hid_t f, const char *tmp, const struct nn_param *p, const float *data) {
  hsize_t dims[NN_MAX_DIM];
  for (int d = 0; d < p->t.ndim; d++) dims[d] = (hsize_t)p->t.shape[d];
  hid_t sp = p->t.ndim ? H5Screate_simple(p->t.ndim, dims, NULL) : H5Screate(H5S_SCALAR);
  hid_t d = H5Dcreate2(f, p->name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  nn_status st = NN_OK;
  if (d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data + p->offset) < 0)
    st = nn_fail(NN_ERR_HDF5, "%s: cannot write dataset %s: %s", tmp, p->name, ds_h5_errdesc());
  if (d >= 0) H5Dclose(d);
  H5Sclose(sp);
  return st;
}

static nn_status write_file(const char *tmp, const struct nn_param *table, int n, const float *data,
                            const char *model, const char *json, int64_t step, const struct ds_meta *meta) {
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, ds_h5_fapl());
  if (f < 0) return nn_fail(NN_ERR_IO, "cannot create %s: %s", tmp, ds_h5_errdesc());
  nn_status st = write_attrs(f, tmp, model, json, step);
  if (st == NN_OK && meta) st = task_meta_write(f, tmp, meta);
  for (int i = 0; st == NN_OK && i < n; i++) st = write_tensor(f, tmp, &table[i], data);
  if (H5Fclose(f) < 0 && st == NN_OK) st = nn_fail(NN_ERR_IO, "%s: cannot close (disk full?)", tmp);
  return st;
}

nn_status export_write(const char *path, const struct nn_param *table, int n, const float *data, const char *model,
                       const char *config_json, int64_t step, const struct ds_meta *meta) {
  char tmp[1100];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return nn_fail(NN_ERR_ARG, "export path too long: %s", path);
  ds_h5_lock();
  nn_status st = write_file(tmp, table, n, data, model, config_json ? config_json : "{}", step, meta);
  ds_h5_unlock();
  if (st != NN_OK) {
    remove(tmp);
    return st;
  }
  if (rename(tmp, path) != 0) {
    remove(tmp);
    return nn_fail(NN_ERR_IO, "cannot rename %s to %s", tmp, path);
  }
  return NN_OK;
}

nn_status export_params(const struct nn_params *P, const struct cfg *c, const struct ds_meta *meta, const char *path) {
  char *json = NULL;
  size_t jlen = 0;
  FILE *mf = open_memstream(&json, &jlen);
  if (mf) {
    cfg_write_json(c, mf);
    fclose(mf);
  }
  float *host = malloc(sizeof(float) * (size_t)(P->total ? P->total : 1));
  nn_status st = NN_OK;
  if (!host) st = nn_fail(NN_ERR_OOM, "out of memory exporting parameters to %s", path);
  else {
    nn_be_to_host(P->be, host, P->data, sizeof(float) * (size_t)P->total);
    st = export_write(path, P->p, P->n, host, c->model, json, -1, meta);
  }
  free(host);
  free(json);
  return st;
}

nn_status export_read_info(const char *path, char *model, size_t mlen, char *config_json, size_t jlen) {
  ds_h5_lock();
  nn_status st = NN_OK;
  char format[64];
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) st = nn_fail(NN_ERR_IO, "cannot open %s as HDF5: %s", path, ds_h5_errdesc());
  if (st == NN_OK) st = ds_attr_get_str(f, path, "format", format, sizeof format);
  if (st == NN_OK && strcmp(format, "attn_train-params") != 0)
    st = nn_fail(NN_ERR_FORMAT, "%s: format '%s', expected an export (attn_train-params)", path, format);
  if (st == NN_OK) st = ds_attr_get_str(f, path, "model", model, mlen);
  if (st == NN_OK) st = ds_attr_get_str(f, path, "config", config_json, jlen);
  if (f >= 0) H5Fclose(f);
  ds_h5_unlock();
  return st;
}
