/* layernorm ops: torch.nn.LayerNorm over the last dimension. */
#ifndef NN_OPS_LAYERNORM_H
#define NN_OPS_LAYERNORM_H
#include "../nn_graph.h"

struct nn_backend;

/* Arguments of the layernorm kernels. */
struct nn_layernorm_args {
  int64_t rows, C;
  float eps;
  const float *x, *w, *b; /* w, b may be NULL */
  float *y;               /* forward output (rows,C) */
  float *mean, *rstd;     /* (rows), written by forward, read by backward */
  const float *dy;        /* backward */
  float *dx, *dw, *db;    /* backward: +=, any may be NULL */
  float *work;            /* backward: backward_work() floats */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_layernorm, ...). */
struct nn_k_layernorm {
  /* y(rows,C) = (x - mean) * rstd * w + b over C; mean(rows), rstd(rows) saved */
  void (*forward)(const struct nn_backend *be, const struct nn_layernorm_args *a);
  /* floats of workspace the backward needs for (rows,C) */
  int64_t (*backward_work)(const struct nn_backend *be, const struct nn_layernorm_args *a);
  /* dx(rows,C), dw(C), db(C) += gradients from dy(rows,C) */
  void (*backward)(const struct nn_backend *be, const struct nn_layernorm_args *a);
};

/* out(...,C) = (x - mean) / sqrt(var + eps) * w + b over the last dim C (biased variance);
 * w, b: (C) or NULL. */
struct nn_tensor *nn_layernorm(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *b,
                               float eps);

#endif
