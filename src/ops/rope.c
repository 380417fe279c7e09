/* rope ops: forward, backward and shape checks, calling kernels through g->be->k->rope. */
#include "rope.h"
#include "../nn_backend.h"

static void rope_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_rope_args a = *(const struct nn_rope_args *)n->attr;
  a.out = n->in[0]->grad; /* dx += dy rotated back */
  a.x = n->out->grad;
  a.sign = -1.0f;
  a.accumulate = 1;
  g->be->k->rope->rotate(g->be, &a);
}

struct nn_tensor *nn_rope(struct nn_graph *g, struct nn_tensor *x, int heads, int64_t pos0, float base) {
  NN_NULL_IN(x);
  char s1[64];
  NN_ASSERT(x->ndim == 3 && x->dtype == NN_F32, "rope: x must be float (B,T,C), got %s", nn_shape_str(x, s1, 64));
  int64_t B = x->shape[0], T = x->shape[1], C = x->shape[2];
  NN_ASSERT(heads > 0 && C % heads == 0 && (C / heads) % 2 == 0,
            "rope: C of x %s must be heads (%d) times an even head size", nn_shape_str(x, s1, 64), heads);
  NN_ASSERT(pos0 >= 0 && base > 0.0f, "rope: pos0 %lld must be >= 0 and base %g > 0", (long long)pos0, base);
  int64_t half = C / heads / 2;
  struct nn_tensor *y = nn_new_like(g, x), *tab = nn_new(g, NN_F32, 3, NN_SHAPE(2, T, half));
  NN_NULL_IN(y, tab);
  struct nn_rope_args a = {.B = B, .T = T, .H = heads, .half = half, .pos0 = pos0, .base = base, .sign = 1.0f,
                           .cos = tab->data, .sin = tab->data + T * half, .x = x->data, .out = y->data};
  g->be->k->rope->tables(g->be, &a);
  g->be->k->rope->rotate(g->be, &a);
  struct nn_node *n = nn_record(g, NN_OP_ROPE, rope_backward, y, 1, (struct nn_tensor *[]){x});
  if (n) n->saved[0] = tab; /* (2,T,half): cos, sin */
  nn_node_attr(g, n, &a, sizeof a);
  return y;
}
