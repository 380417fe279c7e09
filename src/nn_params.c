#include "nn_params.h"
#include "nn_backend.h"
#include "nn_rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nn_params_init(struct nn_params *P) { memset(P, 0, sizeof *P); }

void nn_params_free(struct nn_params *P) {
  if (P->be) {
    nn_be_free(P->be, P->data);
    nn_be_free(P->be, P->grad);
  }
  free(P->p);
  memset(P, 0, sizeof *P);
}

int nn_param_declare(struct nn_params *P, const char *name, int ndim, const int64_t *shape,
                     enum nn_init init, float init_a, int decay) {
  NN_ASSERT(!P->data, "param '%s' declared after nn_params_alloc", name);
  NN_ASSERT(strlen(name) < NN_NAME_MAX, "param name too long: %s", name);
  NN_ASSERT(nn_params_find(P, name) < 0, "param '%s' declared twice", name);
  if (P->n == P->cap) {
    P->cap = P->cap ? 2 * P->cap : 64;
    P->p = realloc(P->p, sizeof *P->p * (size_t)P->cap);
    NN_ASSERT(P->p, "out of memory declaring parameters");
  }
  struct nn_param *p = &P->p[P->n];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  nn_tensor_set_shape(&p->t, ndim, shape);
  p->t.dtype = NN_F32;
  p->t.param_index = P->n;
  p->t.name = p->name;
  p->init = init;
  p->init_a = init_a;
  p->decay = decay;
  p->trainable = 1;
  P->total += p->t.numel;
  return P->n++;
}

int nn_declare_buffer(struct nn_params *P, const char *name, int ndim, const int64_t *shape, enum nn_init init) {
  int i = nn_param_declare(P, name, ndim, shape, init, 0, 0);
  P->p[i].trainable = 0;
  P->p[i].buffer = 1;
  return i;
}

int nn_params_freeze(struct nn_params *P, const char *prefix) {
  NN_ASSERT(!P->data, "freeze '%s' after nn_params_alloc", prefix);
  int c = 0;
  size_t len = strlen(prefix);
  for (int i = 0; i < P->n; i++)
    if (strncmp(P->p[i].name, prefix, len) == 0) {
      P->p[i].trainable = 0;
      c++;
    }
  return c;
}

nn_status nn_params_alloc(struct nn_params *P, const struct nn_backend *be) {
  int64_t off = 0;
  for (int pass = 1; pass >= 0; pass--) /* trainable first, then frozen */
    for (int i = 0; i < P->n; i++)
      if (P->p[i].trainable == pass) {
        P->p[i].offset = off;
        off += P->p[i].t.numel;
      }
  P->trainable = 0;
  for (int i = 0; i < P->n; i++)
    if (P->p[i].trainable) P->trainable += P->p[i].t.numel;
  P->be = be;
  P->data = nn_be_alloc(be, sizeof(float) * (size_t)(P->total ? P->total : 1));
  P->grad = nn_be_alloc(be, sizeof(float) * (size_t)(P->trainable ? P->trainable : 1));
  if (!P->data || !P->grad)
    return nn_fail(NN_ERR_OOM, "out of memory allocating %lld parameters (%.1f MB)",
                   (long long)P->total, 8.0 * (double)P->total / 1e6);
  for (int i = 0; i < P->n; i++) {
    struct nn_param *p = &P->p[i];
    p->t.data = P->data + p->offset;
    p->t.grad = p->trainable ? P->grad + p->offset : NULL;
    p->t.requires_grad = p->trainable;
  }
  nn_params_zero_grad(P);
  return NN_OK;
}

void nn_params_reset(struct nn_params *P, uint64_t seed) {
  float *host = malloc(sizeof(float) * (size_t)(P->total ? P->total : 1));
  NN_ASSERT(host, "out of memory initialising parameters");
  for (int i = 0; i < P->n; i++) {
    struct nn_param *p = &P->p[i];
    float *x = host + p->offset;
    for (int64_t j = 0; j < p->t.numel; j++) {
      switch (p->init) {
      case NN_INIT_ZEROS: x[j] = 0.0f; break;
      case NN_INIT_ONES: x[j] = 1.0f; break;
      case NN_INIT_NORMAL: x[j] = p->init_a * nn_rng_normal(seed, NN_RNG_STREAM_INIT, (uint64_t)i, (uint64_t)j); break;
      case NN_INIT_UNIFORM:
        x[j] = p->init_a * (2.0f * nn_rng_uniform(seed, NN_RNG_STREAM_INIT, (uint64_t)i, (uint64_t)j) - 1.0f);
        break;
      }
    }
  }
  nn_be_to_device(P->be, P->data, host, sizeof(float) * (size_t)P->total);
  free(host);
}

int nn_params_find(const struct nn_params *P, const char *name) {
  for (int i = 0; i < P->n; i++)
    if (strcmp(P->p[i].name, name) == 0) return i;
  return -1;
}

void nn_params_zero_grad(struct nn_params *P) {
  if (P->trainable) nn_be_fill(P->be, P->grad, 0.0f, P->trainable);
}
