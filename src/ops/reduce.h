/* reduce ops: sum and mean over all elements or over one dimension. */
#ifndef NN_OPS_REDUCE_H
#define NN_OPS_REDUCE_H
#include "../nn_graph.h"

struct nn_backend;

/* Arguments of the reduce kernels: x viewed as (outer, n, inner), reduced over n. */
struct nn_reduce_args {
  int64_t outer, n, inner;
  float alpha;      /* 1 for sum, 1/n for mean */
  const float *x;
  float *out;       /* (outer,inner) */
  const float *dy;  /* backward: (outer,inner) */
  float *dx;        /* backward: (outer,n,inner) += */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_reduce, ...). */
struct nn_k_reduce {
  /* out(outer,inner) = alpha * sum over k < n of x(outer,n,inner), accumulated in double */
  void (*sum)(const struct nn_backend *be, const struct nn_reduce_args *a);
  /* dx(outer,n,inner) += alpha * dy(outer,inner) broadcast over n */
  void (*expand)(const struct nn_backend *be, const struct nn_reduce_args *a);
};

/* out() = sum of all elements of x (a scalar: ndim 0, numel 1). */
struct nn_tensor *nn_sum(struct nn_graph *g, struct nn_tensor *x);
/* out() = mean of all elements of x (a scalar). */
struct nn_tensor *nn_mean(struct nn_graph *g, struct nn_tensor *x);
/* out(x's shape without dim) = sum of x over dim (dim may be negative, counting from the end). */
struct nn_tensor *nn_sum_dim(struct nn_graph *g, struct nn_tensor *x, int dim);
/* out(x's shape without dim) = mean of x over dim (dim may be negative). */
struct nn_tensor *nn_mean_dim(struct nn_graph *g, struct nn_tensor *x, int dim);

#endif
