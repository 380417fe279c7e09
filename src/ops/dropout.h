/* dropout op: zero elements with probability p in training, scale the rest by 1/(1-p); the mask is
 * addressed by (seed, stream, step, key) with the key derived from the global sample index, so it
 * is reproducible, resumable and the same for any split of a batch over ranks. */
#ifndef NN_OPS_DROPOUT_H
#define NN_OPS_DROPOUT_H
#include "../nn_graph.h"

struct nn_backend;
#include "../nn_rng.h"

/* Arguments of the dropout kernels. */
struct nn_dropout_args {
  int64_t n;             /* elements */
  int64_t per;           /* elements per example */
  float p;               /* drop probability */
  float scale;           /* 1/(1-p) */
  uint64_t seed, step;
  uint32_t stream;
  int64_t base, stride;  /* key of example b: base + b * stride */
  const float *x;
  float *y;              /* forward output */
  uint8_t *mask;         /* (n) bytes, 1 kept: written by forward, read by backward */
  const float *dy;
  float *dx;             /* backward: += */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_dropout, ...). */
struct nn_k_dropout {
  /* y(n) = x(n) * mask * scale, mask(n) = nn_dropout_keep(seed, stream, step,
   * (base + (i / per) * stride) * per + i % per, p) for element i */
  void (*forward)(const struct nn_backend *be, const struct nn_dropout_args *a);
  /* dx(n) += dy(n) * mask(n) * scale */
  void (*backward)(const struct nn_backend *be, const struct nn_dropout_args *a);
};

/* 1 when the element at key survives dropout with probability p (shared with the fused attention). */
static inline int nn_dropout_keep(uint64_t seed, uint32_t stream, uint64_t step, uint64_t key, float p) {
  return nn_rng_uniform(seed, stream, step, key) >= p;
}

/* out(x's shape) = x with elements zeroed with probability p and the rest scaled by 1/(1-p), dim 0
 * the batch; returns x itself (no node) when !g->training or p == 0. */
struct nn_tensor *nn_dropout(struct nn_graph *g, struct nn_tensor *x, float p);

#endif
