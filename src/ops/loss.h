/* loss ops: cross-entropy from logits, fused with log-softmax. */
#ifndef NN_OPS_LOSS_H
#define NN_OPS_LOSS_H
#include "../nn_graph.h"

struct nn_backend;

/* Arguments of the cross-entropy kernels. */
struct nn_ce_args {
  int64_t rows, C;
  int64_t ignore;       /* target value that does not count */
  const float *x;       /* logits (rows,C) */
  const void *targets;  /* (rows) int32, or int64 when i64 */
  int i64;
  float *loss;          /* forward: (1) */
  float *stats;         /* (rows+1): lse per row, then the count of counted rows */
  const float *dloss;   /* backward: (1) */
  float *dx;            /* backward: += */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_loss, ...). */
struct nn_k_loss {
  /* loss[0] = mean over counted rows of lse(row) - x(row, target); stats gets lse per row and the count */
  void (*ce_forward)(const struct nn_backend *be, const struct nn_ce_args *a);
  /* dx(rows,C) += dloss[0] / count * (softmax(x) - onehot(target)) over counted rows */
  void (*ce_backward)(const struct nn_backend *be, const struct nn_ce_args *a);
};

/* loss() = mean over rows with target != ignore_index of -log softmax(logits)[target]
 * (torch F.cross_entropy, reduction 'mean'); logits (N,C) or (B,T,C), targets int32/int64 (N)
 * or (B,T); 0 when every row is ignored. */
struct nn_tensor *nn_cross_entropy(struct nn_graph *g, struct nn_tensor *logits, struct nn_tensor *targets,
                                   int64_t ignore_index);

#endif
