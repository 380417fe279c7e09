/* bnorm ops: torch.nn.BatchNorm2d (batch statistics in training, running statistics in eval). */
#ifndef NN_OPS_BNORM_H
#define NN_OPS_BNORM_H
#include "../nn_graph.h"

/* Kernels of this family; every backend provides one instance (nn_cpu_bnorm, ...).
 * Shapes: x, y (n,c,hw); per-channel vectors (c); w, b may be NULL (scale 1, shift 0). */
struct nn_k_bnorm {
  /* y(n,c,hw) = (x - mean) * invstd * w + b per channel c, saving mean(c) and invstd(c).
   * batch = 1: batch statistics (biased variance), and when rm/rv are not NULL
   * rm = (1-momentum)*rm + momentum*mean, rv = (1-momentum)*rv + momentum*unbiased variance;
   * batch = 0: mean = rm, invstd = 1/sqrt(rv + eps) */
  void (*fwd)(float *y, float *mean, float *invstd, float *rm, float *rv, const float *x, const float *w,
              const float *b, int64_t n, int64_t c, int64_t hw, float momentum, float eps, int batch);
  /* dx(n,c,hw) += gradient through the normalisation (with batch = 1 through the batch statistics too),
   * dw(c) += sum dy * xhat, db(c) += sum dy; dx, dw, db may be NULL (not needed) */
  void (*bwd)(float *dx, float *dw, float *db, const float *dy, const float *x, const float *mean,
              const float *invstd, const float *w, int64_t n, int64_t c, int64_t hw, int batch);
  /* Per-channel sums for statistics over several processes (s1, s2 (c) doubles, backend memory):
   * without dy s1 = sum (x - shift), s2 = sum (x - shift)^2; with dy s1 = sum dy, s2 = sum dy * (x - shift);
   * shift(c) may be NULL (0) */
  void (*sums)(double *s1, double *s2, const float *x, const float *dy, const float *shift, int64_t n, int64_t c,
               int64_t hw);
  /* dx(n,c,hw) += k * (dy - sdy/m - (x - mean) * invstd^2 * sdyx/m), k = invstd * w, with sums sdy, sdyx (c)
   * (backend memory) over the m values per channel of the global batch */
  void (*bwd_dx)(float *dx, const float *dy, const float *x, const float *mean, const float *invstd, const float *w,
                 const double *sdy, const double *sdyx, double m, int64_t n, int64_t c, int64_t hw);
};

/* y(N,C,H,W) = batch norm of x(N,C,H,W) with affine w(C), b(C) (either may be NULL) and running
 * statistics running_mean(C), running_var(C) (both NULL: always batch statistics); in training
 * (g->training) the running statistics are updated in place. With a graph reduction hook
 * (g->reduce, --sync-bn) batch statistics and their gradients span the batches of all ranks:
 * one reduction of 2C+1 doubles in forward and one of 2C in backward (torch SyncBatchNorm). */
struct nn_tensor *nn_batchnorm2d(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *b,
                                 struct nn_tensor *running_mean, struct nn_tensor *running_var, float momentum,
                                 float eps);

#endif
