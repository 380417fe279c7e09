/* matmul ops: batched matrix products and torch.nn.Linear. */
#ifndef NN_OPS_MATMUL_H
#define NN_OPS_MATMUL_H
#include "../nn_graph.h"

struct nn_backend;

/* Arguments of the bias kernels of linear (the products go through the backend's gemm). */
struct nn_bias_args {
  int64_t rows, cols;
  const float *b;   /* set_bias: (cols) */
  float *y;         /* set_bias: (rows,cols) */
  const float *dy;  /* bias_grad: (rows,cols) */
  float *db;        /* bias_grad: (cols) += */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_matmul, ...). */
struct nn_k_matmul {
  /* y(rows,cols) = b(cols) broadcast over rows (a linear's product then accumulates onto it) */
  void (*set_bias)(const struct nn_backend *be, const struct nn_bias_args *a);
  /* db(cols) += sum over rows of dy(rows,cols) */
  void (*bias_grad)(const struct nn_backend *be, const struct nn_bias_args *a);
};

/* out(...,M,N) = op(a)(...,M,K) @ op(b)(...,K,N); op transposes the last two dims when ta/tb.
 * a and b have the same leading (batch) dims, or b is 2-D and shared by every batch. */
struct nn_tensor *nn_matmul(struct nn_graph *g, struct nn_tensor *a, struct nn_tensor *b, int ta, int tb);
/* y(...,out) = x(...,in) @ w(out,in)^T + bias(out); bias may be NULL. */
struct nn_tensor *nn_linear(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *bias);

#endif
