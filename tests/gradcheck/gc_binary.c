/* Gradient-check cases of the binary ops: every broadcast pattern of b onto a. */
#include "gradcheck.h"

#define S NN_SHAPE
typedef struct nn_tensor *(*bin_fn)(struct nn_graph *, struct nn_tensor *, struct nn_tensor *);

/* op(a(na dims), b(nb dims)) on fresh inputs */
static struct nn_tensor *bin(struct nn_graph *g, struct gc_ctx *c, bin_fn f, int na, const int64_t *sa, int nb,
                             const int64_t *sb) {
  struct nn_tensor *a = gc_input(c, g, na, sa, 1);
  return f(g, a, gc_input(c, g, nb, sb, 1));
}

static struct nn_tensor *add_same(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_add, 3, S(3, 5, 7), 3, S(3, 5, 7)); }
static struct nn_tensor *add_bias(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_add, 3, S(2, 3, 5), 1, S(5)); }
static struct nn_tensor *add_chan(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_add, 4, S(2, 3, 4, 5), 3, S(3, 1, 1)); }
static struct nn_tensor *add_one(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_add, 3, S(3, 5, 7), 1, S(1)); }
static struct nn_tensor *add_pos(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_add, 3, S(2, 5, 7), 3, S(1, 5, 7)); }
/* large enough for the threaded paths and several column blocks */
static struct nn_tensor *add_bias_big(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_add, 2, S(70, 601), 1, S(601)); }
static struct nn_tensor *add_col_big(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_add, 2, S(9, 4001), 2, S(9, 1)); }
static struct nn_tensor *add_one_big(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_add, 2, S(20, 2001), 2, S(1, 1)); }
static struct nn_tensor *sub_same(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_sub, 2, S(3, 5), 2, S(3, 5)); }
static struct nn_tensor *sub_mid(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_sub, 3, S(3, 5, 7), 3, S(3, 1, 7)); }
static struct nn_tensor *sub_col(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_sub, 3, S(3, 5, 7), 2, S(5, 1)); }
static struct nn_tensor *mul_same(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_mul, 3, S(3, 5, 7), 3, S(3, 5, 7)); }
static struct nn_tensor *mul_bias(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_mul, 2, S(4, 7), 1, S(7)); }
static struct nn_tensor *mul_chan(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_mul, 4, S(2, 3, 4, 5), 3, S(3, 1, 1)); }
static struct nn_tensor *mul_one(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_mul, 2, S(3, 5), 2, S(1, 1)); }
static struct nn_tensor *mul_alt(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_mul, 4, S(2, 3, 4, 5), 4, S(2, 1, 4, 1)); }
static struct nn_tensor *mul_alt2(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_mul, 4, S(2, 3, 4, 5), 3, S(3, 1, 5)); }
static struct nn_tensor *mul_chan_big(struct nn_graph *g, struct gc_ctx *c) { return bin(g, c, nn_mul, 4, S(4, 11, 30, 30), 3, S(11, 1, 1)); }
static struct nn_tensor *mul_self(struct nn_graph *g, struct gc_ctx *c) {
  struct nn_tensor *x = gc_input(c, g, 2, S(3, 5), 1);
  return nn_mul(g, x, x);
}
static struct nn_tensor *scale(struct nn_graph *g, struct gc_ctx *c) { return nn_scale(g, gc_input(c, g, 3, S(3, 5, 7), 1), -1.7f); }

const struct gc_case gc_binary[] = {
    {"add_same", NN_OP_ADD, add_same},
    {"add_bias_suffix", NN_OP_ADD, add_bias},
    {"add_chan_c11_4d", NN_OP_ADD, add_chan},
    {"add_one_element", NN_OP_ADD, add_one},
    {"add_leading1", NN_OP_ADD, add_pos},
    {"add_bias_big", NN_OP_ADD, add_bias_big},
    {"add_col_big", NN_OP_ADD, add_col_big},
    {"add_one_big", NN_OP_ADD, add_one_big},
    {"sub_same", NN_OP_SUB, sub_same},
    {"sub_mid_bcast", NN_OP_SUB, sub_mid},
    {"sub_col_bcast", NN_OP_SUB, sub_col},
    {"mul_same", NN_OP_MUL, mul_same},
    {"mul_bias_suffix", NN_OP_MUL, mul_bias},
    {"mul_chan_c11_4d", NN_OP_MUL, mul_chan},
    {"mul_one_element", NN_OP_MUL, mul_one},
    {"mul_alternating", NN_OP_MUL, mul_alt},
    {"mul_alternating2", NN_OP_MUL, mul_alt2},
    {"mul_chan_big", NN_OP_MUL, mul_chan_big},
    {"mul_self", NN_OP_MUL, mul_self},
    {"scale", NN_OP_SCALE, scale},
    {0},
};
