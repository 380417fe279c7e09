/* softmax ops: forward, backward and shape checks, calling kernels through g->be->k->softmax. */
#include "softmax.h"
#include "../nn_backend.h"

static void softmax_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_softmax_args a = *(const struct nn_softmax_args *)n->attr;
  a.dx = n->in[0]->grad;
  a.dy = n->out->grad;
  g->be->k->softmax->backward(g->be, &a);
}

struct nn_tensor *nn_softmax(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *mask, int causal) {
  NN_NULL_IN(x);
  char s1[64], s2[64];
  NN_ASSERT(x->ndim >= 1 && x->dtype == NN_F32, "softmax: x must be float with >= 1 dim, got %s",
            nn_shape_str(x, s1, 64));
  int64_t S = nn_last_dim(x), T = x->ndim >= 2 ? x->shape[x->ndim - 2] : 1, rows = S ? x->numel / S : 0;
  int64_t mask_rows = 0;
  if (mask) {
    int bcast = mask->ndim == 2 && mask->shape[0] == T && mask->shape[1] == S;
    NN_ASSERT(mask->dtype == NN_F32 && (bcast || nn_same_shape(mask, x)),
              "softmax: mask %s must be (T,S) = (%lld,%lld) or x's shape %s", nn_shape_str(mask, s1, 64),
              (long long)T, (long long)S, nn_shape_str(x, s2, 64));
    NN_ASSERT(!mask->requires_grad, "softmax: the additive mask %s takes no gradient", nn_shape_str(mask, s1, 64));
    mask_rows = bcast ? T : rows;
  }
  struct nn_tensor *y = nn_new_like(g, x);
  NN_NULL_IN(y);
  struct nn_softmax_args a = {.rows = rows, .T = T, .S = S, .causal = causal, .mask = mask ? mask->data : NULL,
                              .mask_rows = mask_rows, .x = x->data, .y = y->data};
  g->be->k->softmax->forward(g->be, &a);
  nn_node_attr(g, nn_record(g, NN_OP_SOFTMAX, softmax_backward, y, 1, (struct nn_tensor *[]){x}), &a, sizeof a);
  return y;
}
