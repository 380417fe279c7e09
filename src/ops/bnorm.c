/* bnorm ops: forward, backward and shape checks, calling kernels through g->be->k->bnorm. */
#include "bnorm.h"
#include "../nn_backend.h"

/* Assert that t is NULL or a (C) vector, naming the argument. */
static void bn_check_vec(const struct nn_tensor *t, const char *what, int64_t c) {
  char s[64];
  NN_ASSERT(!t || (t->ndim == 1 && t->shape[0] == c && t->dtype == NN_F32),
            "batchnorm2d: %s %s, expected (%lld) float", what, t ? nn_shape_str(t, s, 64) : "", (long long)c);
}

static void batchnorm2d_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
  struct nn_bnorm_args a = *(const struct nn_bnorm_args *)n->attr;
  a.dy = n->out->grad;
  a.dx = x->requires_grad ? x->grad : NULL;
  a.dw = w && w->requires_grad ? w->grad : NULL;
  a.db = b && b->requires_grad ? b->grad : NULL;
  g->be->k->bnorm->bwd(g->be, &a);
}

struct nn_tensor *nn_batchnorm2d(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *b,
                                 struct nn_tensor *running_mean, struct nn_tensor *running_var, float momentum,
                                 float eps) {
  NN_NULL_IN(x);
  NN_CHECK_NDIM("batchnorm2d", x, 4);
  int64_t c = x->shape[1], hw = x->shape[2] * x->shape[3], m = x->shape[0] * hw;
  bn_check_vec(w, "weight", c);
  bn_check_vec(b, "bias", c);
  bn_check_vec(running_mean, "running_mean", c);
  bn_check_vec(running_var, "running_var", c);
  NN_ASSERT(!running_mean == !running_var, "batchnorm2d: running_mean and running_var must both be given or both NULL");
  int batch = g->training || !running_mean;
  char s[64];
  NN_ASSERT(!batch || m > 1, "batchnorm2d: batch statistics need more than 1 value per channel, input %s",
            nn_shape_str(x, s, 64));
  struct nn_tensor *y = nn_new_like(g, x), *mean = nn_new(g, NN_F32, 1, NN_SHAPE(c)),
                   *invstd = nn_new(g, NN_F32, 1, NN_SHAPE(c));
  NN_NULL_IN(y, mean, invstd);
  struct nn_bnorm_args a = {.n = x->shape[0], .c = c, .hw = hw, .momentum = momentum, .eps = eps, .batch = batch,
                            .x = x->data, .w = w ? w->data : NULL, .b = b ? b->data : NULL, .y = y->data,
                            .mean = mean->data, .invstd = invstd->data,
                            .rm = running_mean ? running_mean->data : NULL, .rv = running_var ? running_var->data : NULL};
  g->be->k->bnorm->fwd(g->be, &a);
  struct nn_node *n = nn_record(g, NN_OP_BATCHNORM2D, batchnorm2d_backward, y, 3, (struct nn_tensor *[]){x, w, b});
  if (n) {
    n->saved[0] = mean;
    n->saved[1] = invstd;
  }
  nn_node_attr(g, n, &a, sizeof a);
  return y;
}
