/* Gradient-check cases of the rope ops. */
#include "gradcheck.h"

#define S NN_SHAPE
static struct nn_tensor *rope_pos0(struct nn_graph *g, struct gc_ctx *c) {
  return nn_rope(g, gc_input(c, g, 3, S(2, 3, 12), 1), 2, 0, 10000.0f);
}
static struct nn_tensor *rope_pos5(struct nn_graph *g, struct gc_ctx *c) {
  return nn_rope(g, gc_input(c, g, 3, S(1, 4, 6), 1), 3, 5, 100.0f);
}

const struct gc_case gc_rope[] = {
    {"rope_pos0", NN_OP_ROPE, rope_pos0},
    {"rope_pos5_3heads", NN_OP_ROPE, rope_pos5},
    {0},
};
