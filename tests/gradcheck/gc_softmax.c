/* Gradient-check cases of the softmax ops. */
#include "gradcheck.h"

#define S NN_SHAPE
static struct nn_tensor *sm_plain(struct nn_graph *g, struct gc_ctx *c) {
  return nn_softmax(g, gc_input(c, g, 3, S(2, 3, 7), 1), NULL, 0);
}
static struct nn_tensor *sm_1d(struct nn_graph *g, struct gc_ctx *c) {
  return nn_softmax(g, gc_input(c, g, 1, S(5), 2), NULL, 0);
}
static struct nn_tensor *sm_mask_ts(struct nn_graph *g, struct gc_ctx *c) {
  return nn_softmax(g, gc_input(c, g, 4, S(2, 2, 3, 5), 1), gc_const(c, g, 2, S(3, 5), 2), 0);
}
static struct nn_tensor *sm_mask_full(struct nn_graph *g, struct gc_ctx *c) {
  return nn_softmax(g, gc_input(c, g, 3, S(2, 3, 4), 1), gc_const(c, g, 3, S(2, 3, 4), 2), 0);
}
static struct nn_tensor *sm_causal_t_lt_s(struct nn_graph *g, struct gc_ctx *c) {
  return nn_softmax(g, gc_input(c, g, 3, S(2, 3, 6), 1), NULL, 1);
}
static struct nn_tensor *sm_causal_square_mask(struct nn_graph *g, struct gc_ctx *c) {
  return nn_softmax(g, gc_input(c, g, 3, S(2, 4, 4), 1), gc_const(c, g, 2, S(4, 4), 1), 1);
}

const struct gc_case gc_softmax[] = {
    {"softmax_plain", NN_OP_SOFTMAX, sm_plain},
    {"softmax_1d", NN_OP_SOFTMAX, sm_1d},
    {"softmax_mask_ts", NN_OP_SOFTMAX, sm_mask_ts},
    {"softmax_mask_full", NN_OP_SOFTMAX, sm_mask_full},
    {"softmax_causal_t_lt_s", NN_OP_SOFTMAX, sm_causal_t_lt_s},
    {"softmax_causal_square_mask", NN_OP_SOFTMAX, sm_causal_square_mask},
    {0},
};
