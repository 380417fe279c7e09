/* Gradient-check cases of the layernorm ops. */
#include "gradcheck.h"

#define S NN_SHAPE
static struct nn_tensor *ln_affine(struct nn_graph *g, struct gc_ctx *c) {
  return nn_layernorm(g, gc_input(c, g, 3, S(2, 3, 7), 1), gc_input(c, g, 1, S(7), 1), gc_input(c, g, 1, S(7), 1),
                      1e-5f);
}
static struct nn_tensor *ln_plain(struct nn_graph *g, struct gc_ctx *c) {
  return nn_layernorm(g, gc_input(c, g, 2, S(4, 5), 1), NULL, NULL, 1e-5f);
}
/* more rows than one partial-sum block (32), odd C */
static struct nn_tensor *ln_many_rows(struct nn_graph *g, struct gc_ctx *c) {
  return nn_layernorm(g, gc_input(c, g, 2, S(37, 3), 1), gc_input(c, g, 1, S(3), 1), gc_input(c, g, 1, S(3), 1),
                      1e-5f);
}
static struct nn_tensor *ln_weight_only(struct nn_graph *g, struct gc_ctx *c) {
  return nn_layernorm(g, gc_input(c, g, 2, S(3, 9), 1), gc_input(c, g, 1, S(9), 1), NULL, 1e-3f);
}

const struct gc_case gc_layernorm[] = {
    {"layernorm_affine", NN_OP_LAYERNORM, ln_affine},
    {"layernorm_plain", NN_OP_LAYERNORM, ln_plain},
    {"layernorm_many_rows_odd_c", NN_OP_LAYERNORM, ln_many_rows},
    {"layernorm_weight_only", NN_OP_LAYERNORM, ln_weight_only},
    {0},
};
