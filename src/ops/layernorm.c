/* layernorm ops: forward, backward and shape checks, calling kernels through g->be->k->layernorm. */
#include "layernorm.h"
#include "../nn_backend.h"

static void layernorm_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
  struct nn_layernorm_args a = *(const struct nn_layernorm_args *)n->attr;
  a.work = nn_scratch(g, sizeof(float) * (size_t)g->be->k->layernorm->backward_work(g->be, &a));
  if (!a.work) return;
  a.dy = n->out->grad;
  a.dx = x->requires_grad ? x->grad : NULL;
  a.dw = w && w->requires_grad ? w->grad : NULL;
  a.db = b && b->requires_grad ? b->grad : NULL;
  g->be->k->layernorm->backward(g->be, &a);
}

struct nn_tensor *nn_layernorm(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *b,
                               float eps) {
  NN_NULL_IN(x);
  char s1[64], s2[64];
  NN_ASSERT(x->ndim >= 1 && x->dtype == NN_F32, "layernorm: x must be float with >= 1 dim, got %s",
            nn_shape_str(x, s1, 64));
  int64_t C = nn_last_dim(x), rows = C ? x->numel / C : 0;
  NN_ASSERT(!w || (w->ndim == 1 && w->shape[0] == C), "layernorm: weight %s does not match x %s",
            nn_shape_str(w, s1, 64), nn_shape_str(x, s2, 64));
  NN_ASSERT(!b || (b->ndim == 1 && b->shape[0] == C), "layernorm: bias %s does not match x %s",
            nn_shape_str(b, s1, 64), nn_shape_str(x, s2, 64));
  struct nn_tensor *y = nn_new_like(g, x), *stats = nn_new(g, NN_F32, 2, NN_SHAPE(2, rows));
  NN_NULL_IN(y, stats);
  struct nn_layernorm_args a = {.rows = rows, .C = C, .eps = eps, .x = x->data, .w = w ? w->data : NULL,
                                .b = b ? b->data : NULL, .y = y->data, .mean = stats->data, .rstd = stats->data + rows};
  g->be->k->layernorm->forward(g->be, &a);
  struct nn_node *n = nn_record(g, NN_OP_LAYERNORM, layernorm_backward, y, 3, (struct nn_tensor *[]){x, w, b});
  if (n) n->saved[0] = stats; /* (2,rows): mean, rstd */
  nn_node_attr(g, n, &a, sizeof a);
  return y;
}
