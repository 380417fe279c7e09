/* softmax ops: softmax over the last dimension with an optional additive or causal mask. */
#ifndef NN_OPS_SOFTMAX_H
#define NN_OPS_SOFTMAX_H
#include "../nn_graph.h"

struct nn_backend;

/* Arguments of the softmax kernels. */
struct nn_softmax_args {
  int64_t rows, T, S;    /* x(rows,S); row r is query r % T */
  int causal;            /* entries s > r % T + S - T excluded */
  const float *mask;     /* additive (mask_rows,S), row r uses r % mask_rows; may be NULL */
  int64_t mask_rows;
  const float *x;
  float *y;              /* forward output (may alias x); read by backward */
  const float *dy;
  float *dx;             /* backward: += */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_softmax, ...). */
struct nn_k_softmax {
  /* y(rows,S) = softmax over S of x + mask, causal entries excluded (probability 0);
   * a row with every entry excluded or -inf gives zeros */
  void (*forward)(const struct nn_backend *be, const struct nn_softmax_args *a);
  /* dx(rows,S) += y * (dy - rowsum(dy * y)) */
  void (*backward)(const struct nn_backend *be, const struct nn_softmax_args *a);
};

/* out(...,T,S) = softmax over S of x + mask, causal: s > t + (S - T) masked out (bottom-right
 * aligned). mask: NULL, (T,S) broadcast over the leading dims, or x's shape; it takes no gradient. */
struct nn_tensor *nn_softmax(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *mask, int causal);

#endif
