/* loss ops: cross-entropy from logits, fused with log-softmax. */
#ifndef NN_OPS_LOSS_H
#define NN_OPS_LOSS_H
#include "../nn_graph.h"

/* Kernels of this family; every backend provides one instance (nn_cpu_loss, ...). */
struct nn_k_loss {
  /* loss[0] = mean over counted rows of lse(row) - x(row, target); stats(rows+1) gets lse per row
   * and the count of rows whose target != ignore last; targets int32 (i64 = 0) or int64 */
  void (*ce_forward)(float *loss, float *stats, const float *x, const void *targets, int i64,
                     int64_t rows, int64_t C, int64_t ignore);
  /* dx(rows,C) += dloss[0] / count * (softmax(x) - onehot(target)) over counted rows */
  void (*ce_backward)(float *dx, const float *dloss, const float *x, const float *stats,
                      const void *targets, int i64, int64_t rows, int64_t C, int64_t ignore);
};

/* loss() = mean over rows with target != ignore_index of -log softmax(logits)[target]
 * (torch F.cross_entropy, reduction 'mean'); logits (N,C) or (B,T,C), targets int32/int64 (N)
 * or (B,T); 0 when every row is ignored. */
struct nn_tensor *nn_cross_entropy(struct nn_graph *g, struct nn_tensor *logits, struct nn_tensor *targets,
                                   int64_t ignore_index);

#endif
