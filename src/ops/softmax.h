/* softmax ops: softmax over the last dimension with an optional additive or causal mask. */
#ifndef NN_OPS_SOFTMAX_H
#define NN_OPS_SOFTMAX_H
#include "../nn_graph.h"

/* Kernels of this family; every backend provides one instance (nn_cpu_softmax, ...). */
struct nn_k_softmax {
  /* y(rows,S) = softmax over S of x(rows,S) + mask(row % mask_rows, S) (mask may be NULL);
   * causal: entries s > row % T + S - T are excluded (probability 0); y may alias x;
   * a row with every entry excluded or -inf gives zeros */
  void (*forward)(float *y, const float *x, const float *mask, int64_t mask_rows, int64_t rows,
                  int64_t T, int64_t S, int causal);
  /* dx(rows,S) += y * (dy - rowsum(dy * y)) */
  void (*backward)(float *dx, const float *y, const float *dy, int64_t rows, int64_t S);
};

/* out(...,T,S) = softmax over S of x + mask, causal: s > t + (S - T) masked out (bottom-right
 * aligned). mask: NULL, (T,S) broadcast over the leading dims, or x's shape; it takes no gradient. */
struct nn_tensor *nn_softmax(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *mask, int causal);

#endif
