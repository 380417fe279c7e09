/* bnorm ops: torch.nn.BatchNorm2d (batch statistics in training, running statistics in eval). */
#ifndef NN_OPS_BNORM_H
#define NN_OPS_BNORM_H
#include "../nn_graph.h"

struct nn_backend;

/* Arguments of the bnorm kernels. */
struct nn_bnorm_args {
  int64_t n, c, hw;      /* x(n,c,hw) */
  float momentum, eps;
  int batch;             /* 1: batch statistics; 0: running statistics */
  const float *x, *w, *b;
  float *y;              /* forward output */
  float *mean, *invstd;  /* (c), written by forward, read by backward */
  float *rm, *rv;        /* running statistics (c), may be NULL */
  const float *dy;       /* backward */
  float *dx, *dw, *db;   /* backward: +=, each may be NULL */
  /* statistics over several processes (--sync-bn, see nn_batchnorm2d) */
  const float *shift;    /* sums: per-channel shift (c), may be NULL (0) */
  double *s1, *s2;       /* sums: written (c each); bwd_dx: the global sums read */
  double m;              /* bwd_dx: values per channel of the global batch */
  int sync;              /* the op normalised with statistics of every rank */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_bnorm, ...). */
struct nn_k_bnorm {
  /* y(n,c,hw) = (x - mean) * invstd * w + b per channel c, saving mean(c) and invstd(c).
   * batch = 1: batch statistics (biased variance), and when rm/rv are not NULL
   * rm = (1-momentum)*rm + momentum*mean, rv = (1-momentum)*rv + momentum*unbiased variance;
   * batch = 0: mean = rm, invstd = 1/sqrt(rv + eps) */
  void (*fwd)(const struct nn_backend *be, const struct nn_bnorm_args *a);
  /* dx(n,c,hw) += gradient through the normalisation (with batch = 1 through the batch statistics too),
   * dw(c) += sum dy * xhat, db(c) += sum dy */
  void (*bwd)(const struct nn_backend *be, const struct nn_bnorm_args *a);
  /* per-channel sums (backend memory): without dy s1 = sum (x - shift), s2 = sum (x - shift)^2;
   * with dy s1 = sum dy, s2 = sum dy * (x - shift) */
  void (*sums)(const struct nn_backend *be, const struct nn_bnorm_args *a);
  /* dx(n,c,hw) += k * (dy - s1/m - (x - mean) * invstd^2 * s2/m), k = invstd * w, with the global sums
   * s1 = sum dy, s2 = sum dy * (x - mean) over the m values per channel of every rank's batch */
  void (*bwd_dx)(const struct nn_backend *be, const struct nn_bnorm_args *a);
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
