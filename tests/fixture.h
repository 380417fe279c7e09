/* Reading reference fixtures (HDF5 files written by the scripts in tests/ref). Header-only. */
#ifndef TEST_FIXTURE_H
#define TEST_FIXTURE_H
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Open tests/ref/<name> (tests run with tests/ as working directory); H5I_INVALID_HID if absent. */
static inline hid_t fx_open(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "ref/%s", name);
  if (access(path, R_OK) != 0) {
    fprintf(stderr, "fixture %s not found (run from tests/)\n", path);
    return H5I_INVALID_HID;
  }
  return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
}

/* Read dataset `name` as float32 (malloc'd, caller frees); *numel gets the element count; NULL if missing. */
static inline float *fx_floats(hid_t f, const char *name, int64_t *numel) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) {
    fprintf(stderr, "fixture: no dataset '%s'\n", name);
    return NULL;
  }
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT), sp = H5Dget_space(d);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
  H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
  H5Sclose(sp);
  H5Dclose(d);
  if (numel) *numel = (int64_t)n;
  return x;
}

/* Read dataset `name` as int32 (malloc'd); NULL if missing. */
static inline int32_t *fx_ints(hid_t f, const char *name, int64_t *numel) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return NULL;
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT), sp = H5Dget_space(d);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  int32_t *x = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
  H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
  H5Sclose(sp);
  H5Dclose(d);
  if (numel) *numel = (int64_t)n;
  return x;
}

/* Largest |x| over n elements. */
static inline double fx_max_abs(const float *x, int64_t n) {
  double w = 0;
  for (int64_t i = 0; i < n; i++) {
    double a = x[i] < 0 ? -x[i] : x[i];
    if (a > w) w = a;
  }
  return w;
}

/* Largest |a-b| / (|b| + floor) over n elements. */
static inline double fx_max_rel(const float *a, const float *b, int64_t n, double floor) {
  double w = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = a[i] - b[i], r = (d < 0 ? -d : d) / ((b[i] < 0 ? -b[i] : b[i]) + floor);
    if (r > w) w = r;
  }
  return w;
}
#endif
