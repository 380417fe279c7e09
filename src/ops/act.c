/* act ops: forward, backward and shape checks, calling kernels through g->be->k->act. */
#include "act.h"
#include "../nn_backend.h"

static void act_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_act_args a = *(const struct nn_act_args *)n->attr;
  a.dx = n->in[0]->grad;
  a.dy = n->out->grad;
  g->be->k->act->backward(g->be, &a);
}

/* y(x's shape) = f(x) elementwise */
static struct nn_tensor *act(struct nn_graph *g, enum nn_op op, struct nn_tensor *x) {
  NN_NULL_IN(x);
  char s[64];
  NN_ASSERT(x->dtype == NN_F32, "%s: x %s must be float32", nn_op_name(op), nn_shape_str(x, s, 64));
  struct nn_tensor *y = nn_new_like(g, x);
  NN_NULL_IN(y);
  struct nn_act_args a = {.f = op, .n = x->numel, .y = y->data, .x = x->data};
  g->be->k->act->forward(g->be, &a);
  nn_node_attr(g, nn_record(g, op, act_backward, y, 1, &x), &a, sizeof a);
  return y;
}

struct nn_tensor *nn_relu(struct nn_graph *g, struct nn_tensor *x) { return act(g, NN_OP_RELU, x); }
struct nn_tensor *nn_gelu_tanh(struct nn_graph *g, struct nn_tensor *x) {
  return act(g, NN_OP_GELU_TANH, x);
}
struct nn_tensor *nn_gelu_erf(struct nn_graph *g, struct nn_tensor *x) {
  return act(g, NN_OP_GELU_ERF, x);
}
struct nn_tensor *nn_silu(struct nn_graph *g, struct nn_tensor *x) { return act(g, NN_OP_SILU, x); }
struct nn_tensor *nn_sigmoid(struct nn_graph *g, struct nn_tensor *x) {
  return act(g, NN_OP_SIGMOID, x);
}
struct nn_tensor *nn_tanh(struct nn_graph *g, struct nn_tensor *x) { return act(g, NN_OP_TANH, x); }
