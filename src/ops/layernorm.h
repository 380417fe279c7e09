/* layernorm ops: torch.nn.LayerNorm over the last dimension. */
#ifndef NN_OPS_LAYERNORM_H
#define NN_OPS_LAYERNORM_H
#include "../nn_graph.h"

/* Kernels of this family; every backend provides one instance (nn_cpu_layernorm, ...). */
struct nn_k_layernorm {
  /* y(rows,C) = (x - mean) * rstd * w + b over C (w, b may be NULL); mean(rows), rstd(rows) saved */
  void (*forward)(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                  int64_t rows, int64_t C, float eps);
  /* floats of workspace ln_backward needs for (rows,C) */
  int64_t (*backward_work)(int64_t rows, int64_t C);
  /* dx(rows,C), dw(C), db(C) += gradients from dy(rows,C); any of dx, dw, db may be NULL */
  void (*backward)(float *dx, float *dw, float *db, float *work, const float *dy, const float *x,
                   const float *mean, const float *rstd, const float *w, int64_t rows, int64_t C);
};

/* out(...,C) = (x - mean) / sqrt(var + eps) * w + b over the last dim C (biased variance);
 * w, b: (C) or NULL. */
struct nn_tensor *nn_layernorm(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *b,
                               float eps);

#endif
