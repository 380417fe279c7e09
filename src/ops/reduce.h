/* reduce ops: sum and mean over all elements or over one dimension. */
#ifndef NN_OPS_REDUCE_H
#define NN_OPS_REDUCE_H
#include "../nn_graph.h"

/* Kernels of this family; every backend provides one instance (nn_cpu_reduce, ...). */
struct nn_k_reduce {
  /* out(outer,inner) = alpha * sum over k < n of x(outer,n,inner), accumulated in double */
  void (*sum)(float *out, const float *x, int64_t outer, int64_t n, int64_t inner, float alpha);
  /* dx(outer,n,inner) += alpha * dy(outer,inner) broadcast over n */
  void (*expand)(float *dx, const float *dy, int64_t outer, int64_t n, int64_t inner, float alpha);
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
