/* Gradient-check cases of the matmul ops. */
#include "gradcheck.h"

#define S NN_SHAPE
static struct nn_tensor *mm_2d(struct nn_graph *g, struct gc_ctx *c) {
  return nn_matmul(g, gc_input(c, g, 2, S(3, 5), 1), gc_input(c, g, 2, S(5, 4), 1), 0, 0);
}
static struct nn_tensor *mm_2d_tt(struct nn_graph *g, struct gc_ctx *c) {
  return nn_matmul(g, gc_input(c, g, 2, S(5, 3), 1), gc_input(c, g, 2, S(4, 5), 1), 1, 1);
}
static struct nn_tensor *mm_batched_tb(struct nn_graph *g, struct gc_ctx *c) {
  return nn_matmul(g, gc_input(c, g, 3, S(2, 3, 5), 1), gc_input(c, g, 3, S(2, 7, 5), 1), 0, 1);
}
static struct nn_tensor *mm_batched_ta(struct nn_graph *g, struct gc_ctx *c) {
  return nn_matmul(g, gc_input(c, g, 4, S(2, 2, 5, 3), 1), gc_input(c, g, 4, S(2, 2, 5, 4), 1), 1, 0);
}
static struct nn_tensor *mm_shared_b(struct nn_graph *g, struct gc_ctx *c) {
  return nn_matmul(g, gc_input(c, g, 3, S(3, 2, 5), 1), gc_input(c, g, 2, S(5, 3), 1), 0, 0);
}
static struct nn_tensor *mm_shared_b_ta_tb(struct nn_graph *g, struct gc_ctx *c) {
  return nn_matmul(g, gc_input(c, g, 3, S(3, 5, 2), 1), gc_input(c, g, 2, S(3, 5), 1), 1, 1);
}
static struct nn_tensor *linear_bias(struct nn_graph *g, struct gc_ctx *c) {
  return nn_linear(g, gc_input(c, g, 3, S(2, 3, 7), 1), gc_input(c, g, 2, S(5, 7), 1), gc_input(c, g, 1, S(5), 1));
}
static struct nn_tensor *linear_nobias(struct nn_graph *g, struct gc_ctx *c) {
  return nn_linear(g, gc_input(c, g, 2, S(4, 3), 1), gc_input(c, g, 2, S(6, 3), 1), NULL);
}

const struct gc_case gc_matmul[] = {
    {"matmul_2d", NN_OP_MATMUL, mm_2d},
    {"matmul_2d_ta_tb", NN_OP_MATMUL, mm_2d_tt},
    {"matmul_batched_tb", NN_OP_MATMUL, mm_batched_tb},
    {"matmul_batched4d_ta", NN_OP_MATMUL, mm_batched_ta},
    {"matmul_shared_b", NN_OP_MATMUL, mm_shared_b},
    {"matmul_shared_b_ta_tb", NN_OP_MATMUL, mm_shared_b_ta_tb},
    {"linear_bias", NN_OP_LINEAR, linear_bias},
    {"linear_nobias", NN_OP_LINEAR, linear_nobias},
    {0},
};
