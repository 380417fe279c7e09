/* Gradient-check cases of the loss ops. */
#include "gradcheck.h"

#define S NN_SHAPE
/* ignore_index 2 of targets drawn in [0,3): about a third of the rows are ignored */
static struct nn_tensor *ce_2d_i32(struct nn_graph *g, struct gc_ctx *c) {
  return nn_cross_entropy(g, gc_input(c, g, 2, S(6, 5), 2), gc_index(c, g, NN_I32, 1, S(6), 5), -100);
}
static struct nn_tensor *ce_2d_i64_ignore(struct nn_graph *g, struct gc_ctx *c) {
  return nn_cross_entropy(g, gc_input(c, g, 2, S(9, 3), 2), gc_index(c, g, NN_I64, 1, S(9), 3), 2);
}
static struct nn_tensor *ce_3d_i32_ignore(struct nn_graph *g, struct gc_ctx *c) {
  return nn_cross_entropy(g, gc_input(c, g, 3, S(2, 5, 3), 2), gc_index(c, g, NN_I32, 2, S(2, 5), 3), 0);
}
static struct nn_tensor *ce_3d_i64(struct nn_graph *g, struct gc_ctx *c) {
  return nn_cross_entropy(g, gc_input(c, g, 3, S(3, 2, 7), 2), gc_index(c, g, NN_I64, 2, S(3, 2), 7), -1);
}
/* every row ignored: loss 0, no gradient */
static struct nn_tensor *ce_all_ignored(struct nn_graph *g, struct gc_ctx *c) {
  return nn_cross_entropy(g, gc_input(c, g, 2, S(3, 4), 2), gc_index(c, g, NN_I32, 1, S(3), 1), 0);
}

const struct gc_case gc_loss[] = {
    {"cross_entropy_2d_i32", NN_OP_CROSS_ENTROPY, ce_2d_i32},
    {"cross_entropy_2d_i64_ignore", NN_OP_CROSS_ENTROPY, ce_2d_i64_ignore},
    {"cross_entropy_3d_i32_ignore", NN_OP_CROSS_ENTROPY, ce_3d_i32_ignore},
    {"cross_entropy_3d_i64", NN_OP_CROSS_ENTROPY, ce_3d_i64},
    {"cross_entropy_all_ignored", NN_OP_CROSS_ENTROPY, ce_all_ignored},
    {0},
};
