/* Helpers shared by the checkpoint suites (tests/test_ckpt.c, tests/mpi_ckpt.c, tests/bench/bench_ckpt.c):
 * a small model with trainable, frozen and buffer parameters, bit patterns in every flat buffer, and
 * scratch directories. Header-only. */
#ifndef TEST_CKPT_COMMON_H
#define TEST_CKPT_COMMON_H
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ckpt.h"
#include "nn.h"

/* Declare the test model on the CPU (big: an embedding of big elements; variant 1 changes the shape
 * of "enc.fc.weight"), freeze "emb", allocate. Sizes divide neither by 2 nor by 3. */
static inline void ck_model(struct nn_params *P, int64_t big, int variant) {
  nn_params_init(P);
  nn_declare_linear(P, "enc.fc", 13, variant == 1 ? 6 : 5, 1);
  nn_declare_embedding(P, "emb", 7, 11);
  nn_declare_layernorm(P, "head.ln", 5);
  nn_declare_buffer(P, "bn.running_mean", 1, NN_SHAPE(5), NN_INIT_ZEROS);
  nn_declare_embedding(P, "tok.big", big, 1);
  nn_params_freeze(P, "emb");
  NN_ASSERT(nn_params_alloc(P, &nn_cpu_backend) == NN_OK, "out of memory");
}

/* A value for element i of buffer `which` under key: varied bit patterns, including -0 and a NaN payload. */
static inline float ck_value(uint32_t key, int which, int64_t i) {
  if (i % 1009 == 5) return -0.0f;
  uint32_t h = (uint32_t)i * 2654435761u ^ key * 40503u ^ (uint32_t)which * 0x9e3779b9u;
  h ^= h >> 15;
  h *= 2246822519u;
  h ^= h >> 13;
  if (i % 1013 == 7) h = 0x7fc00000u | (h & 0xffffu); /* NaN with a payload */
  else h = (h & 0x807fffffu) | ((uint32_t)(100 + h % 50) << 23); /* finite, |x| in [2^-27, 2^23] */
  float x;
  memcpy(&x, &h, sizeof x);
  return x;
}

/* Fill params, m and v (when present) with ck_value patterns and set o->t. */
static inline void ck_fill(struct nn_params *P, struct nn_optim *o, uint32_t key) {
  for (int64_t i = 0; i < P->total; i++) P->data[i] = ck_value(key, 0, i);
  for (int64_t i = 0; o && o->m && i < P->trainable; i++) o->m[i] = ck_value(key, 1, i);
  for (int64_t i = 0; o && o->v && i < P->trainable; i++) o->v[i] = ck_value(key, 2, i);
  if (o) o->t = 1000 + key;
}

/* Number of elements whose bits differ from the ck_value patterns of key (0 = exact). */
static inline int64_t ck_diff(const struct nn_params *P, const struct nn_optim *o, uint32_t key) {
  int64_t bad = 0;
  for (int which = 0; which < 3; which++) {
    const float *x = which == 0 ? P->data : which == 1 ? (o ? o->m : NULL) : (o ? o->v : NULL);
    int64_t n = which == 0 ? P->total : P->trainable;
    for (int64_t i = 0; x && i < n; i++) {
      float want = ck_value(key, which, i);
      bad += memcmp(&x[i], &want, sizeof want) != 0;
    }
  }
  if (o && o->t != 1000 + (int64_t)key) bad++;
  return bad;
}

/* An Adam optimizer over P (state buffers m and v). */
static inline void ck_adam(struct nn_optim *o, struct nn_params *P) {
  struct nn_optim_cfg cfg = nn_optim_defaults(NN_OPT_ADAM);
  NN_ASSERT(nn_optim_init(o, P, &cfg) == NN_OK, "out of memory");
}

/* A state with every field set from step. */
static inline struct ckpt_state ck_state(int64_t step) {
  struct ckpt_state s;
  memset(&s, 0, sizeof s);
  s.step = step;
  s.epoch = step / 10;
  s.sampler_epoch = step / 10 + 1;
  s.sampler_offset = step * 3 + 1;
  s.seed = 0xfedcba9876543210ull + (uint64_t)step;
  snprintf(s.model, sizeof s.model, "tiny");
  snprintf(s.config_json, sizeof s.config_json, "{\"model\": \"tiny\", \"step\": %lld}", (long long)step);
  return s;
}

/* Whether two states agree in every field ckpt_save writes. */
static inline int ck_state_eq(const struct ckpt_state *a, const struct ckpt_state *b) {
  return a->step == b->step && a->epoch == b->epoch && a->sampler_epoch == b->sampler_epoch &&
         a->sampler_offset == b->sampler_offset && a->seed == b->seed && strcmp(a->model, b->model) == 0 &&
         strcmp(a->config_json, b->config_json) == 0;
}

/* rm -rf path. */
static inline void ck_rmrf(const char *path) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", path);
}

/* Flip one byte in the middle of the first chunk of dataset `name` of an HDF5 file. */
static inline int ck_flip_byte(const char *file, const char *name) {
  hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return -1;
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  haddr_t addr = HADDR_UNDEF;
  hsize_t size = 0, off[1];
  unsigned mask;
  if (d >= 0) {
    hid_t sp = H5Dget_space(d);
    H5Dget_chunk_info(d, sp, 0, off, &mask, &addr, &size);
    H5Sclose(sp);
    H5Dclose(d);
  }
  H5Fclose(f);
  if (addr == HADDR_UNDEF || size < 8) return -1;
  FILE *fp = fopen(file, "r+b");
  if (!fp) return -1;
  long pos = (long)(addr + size / 2);
  fseek(fp, pos, SEEK_SET);
  int ch = fgetc(fp);
  fseek(fp, pos, SEEK_SET);
  fputc(ch ^ 0x5a, fp);
  fclose(fp);
  return 0;
}

#endif
