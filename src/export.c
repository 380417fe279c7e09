#include "export.h"
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ds_h5.h"
#include "nn_backend.h"

static herr_t put_str_attr(hid_t obj, const char *name, const char *value) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, strlen(value) + 1);
  H5Tset_strpad(t, H5T_STR_NULLTERM);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Awrite(a, t, value);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
  return e;
}

static nn_status write_file(const struct nn_params *P, const struct cfg *c, const char *tmp) {
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return nn_fail(NN_ERR_IO, "cannot create %s", tmp);
  nn_status st = NN_OK;
  char *json = NULL;
  size_t jlen = 0;
  FILE *mf = open_memstream(&json, &jlen);
  if (mf) {
    cfg_write_json(c, mf);
    fclose(mf);
  }
  if (put_str_attr(f, "format", "attn_train-params") < 0 || put_str_attr(f, "model", c->model) < 0 ||
      put_str_attr(f, "config", json ? json : "{}") < 0)
    st = nn_fail(NN_ERR_HDF5, "%s: cannot write attributes", tmp);
  free(json);
  float *host = malloc(sizeof(float) * (size_t)(P->total ? P->total : 1));
  if (!host) st = nn_fail(NN_ERR_OOM, "out of memory exporting parameters");
  else P->be->to_host(host, P->data, sizeof(float) * (size_t)P->total);
  for (int i = 0; st == NN_OK && i < P->n; i++) {
    const struct nn_param *p = &P->p[i];
    hsize_t dims[NN_MAX_DIM];
    for (int d = 0; d < p->t.ndim; d++) dims[d] = (hsize_t)p->t.shape[d];
    hid_t sp = p->t.ndim ? H5Screate_simple(p->t.ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(f, p->name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host + p->offset) < 0)
      st = nn_fail(NN_ERR_HDF5, "%s: cannot write dataset %s", tmp, p->name);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
  }
  free(host);
  if (H5Fclose(f) < 0 && st == NN_OK) st = nn_fail(NN_ERR_IO, "%s: cannot close (disk full?)", tmp);
  return st;
}

nn_status export_params(const struct nn_params *P, const struct cfg *c, const char *path) {
  char tmp[CFG_STR + 16];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  ds_h5_lock();
  nn_status st = write_file(P, c, tmp);
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
