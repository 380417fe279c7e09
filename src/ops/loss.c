/* loss ops: forward, backward and shape checks, calling kernels through g->be->k->loss. */
#include "loss.h"
#include "../nn_backend.h"

static void ce_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_ce_args a = *(const struct nn_ce_args *)n->attr;
  a.dx = n->in[0]->grad;
  a.dloss = n->out->grad;
  g->be->k->loss->ce_backward(g->be, &a);
}

struct nn_tensor *nn_cross_entropy(struct nn_graph *g, struct nn_tensor *logits, struct nn_tensor *targets,
                                   int64_t ignore_index) {
  NN_NULL_IN(logits, targets);
  char s1[64], s2[64];
  NN_ASSERT(logits->dtype == NN_F32 && (logits->ndim == 2 || logits->ndim == 3),
            "cross_entropy: logits must be float (N,C) or (B,T,C), got %s", nn_shape_str(logits, s1, 64));
  NN_ASSERT(targets->dtype == NN_I32 || targets->dtype == NN_I64,
            "cross_entropy: targets %s must be int32 or int64", nn_shape_str(targets, s1, 64));
  int ok = targets->ndim == logits->ndim - 1;
  for (int i = 0; ok && i < targets->ndim; i++) ok = targets->shape[i] == logits->shape[i];
  NN_ASSERT(ok, "cross_entropy: targets %s do not match logits %s (one target per row)",
            nn_shape_str(targets, s1, 64), nn_shape_str(logits, s2, 64));
  int64_t C = nn_last_dim(logits), rows = targets->numel;
  struct nn_tensor *loss = nn_new(g, NN_F32, 0, NULL);
  struct nn_tensor *stats = nn_new(g, NN_F32, 1, NN_SHAPE(rows + 1));
  NN_NULL_IN(loss, stats);
  struct nn_ce_args a = {.rows = rows, .C = C, .ignore = ignore_index, .x = logits->data, .targets = targets->ptr,
                         .i64 = targets->dtype == NN_I64, .loss = loss->data, .stats = stats->data};
  g->be->k->loss->ce_forward(g->be, &a);
  struct nn_node *n = nn_record(g, NN_OP_CROSS_ENTROPY, ce_backward, loss, 2, (struct nn_tensor *[]){logits, targets});
  if (n) n->saved[0] = stats;
  nn_node_attr(g, n, &a, sizeof a);
  return loss;
}
