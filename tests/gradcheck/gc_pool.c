/* Gradient-check cases of the pool ops. */
#include "gradcheck.h"

#define S NN_SHAPE
/* max-pool inputs keep |x| >= 0.5; values drawn from a continuous distribution have no ties, but two
 * in one window can lie closer than the default step 1e-2, which would swap the winner during the
 * finite difference: the max-pool cases use .eps = 1e-3 (max is piecewise linear, so the smaller
 * step costs no accuracy beyond float rounding) */
static struct nn_tensor *maxpool_2x2(struct nn_graph *g, struct gc_ctx *c) {
  return nn_maxpool2d(g, gc_input_away(c, g, 4, S(2, 3, 6, 7), 0.5f), 2, 2, 0);
}
static struct nn_tensor *maxpool_3x3_s2_p1(struct nn_graph *g, struct gc_ctx *c) {
  return nn_maxpool2d(g, gc_input_away(c, g, 4, S(2, 2, 7, 6), 0.5f), 3, 2, 1);
}
/* overlapping windows (stride 1): one input can win several windows */
static struct nn_tensor *maxpool_3x3_s1(struct nn_graph *g, struct gc_ctx *c) {
  return nn_maxpool2d(g, gc_input_away(c, g, 4, S(1, 2, 5, 6), 0.5f), 3, 1, 0);
}
static struct nn_tensor *avgpool_2x2(struct nn_graph *g, struct gc_ctx *c) {
  return nn_avgpool2d(g, gc_input(c, g, 4, S(2, 3, 6, 7), 1), 2, 2, 0);
}
static struct nn_tensor *avgpool_3x3_s2_p1(struct nn_graph *g, struct gc_ctx *c) {
  return nn_avgpool2d(g, gc_input(c, g, 4, S(2, 2, 7, 6), 1), 3, 2, 1);
}
static struct nn_tensor *adaptive_7x5_to_3x2(struct nn_graph *g, struct gc_ctx *c) {
  return nn_adaptive_avgpool2d(g, gc_input(c, g, 4, S(2, 3, 7, 5), 1), 3, 2);
}
static struct nn_tensor *adaptive_to_1x1(struct nn_graph *g, struct gc_ctx *c) {
  return nn_adaptive_avgpool2d(g, gc_input(c, g, 4, S(2, 3, 5, 6), 1), 1, 1);
}
/* output larger than the input: overlapping windows */
static struct nn_tensor *adaptive_upsample(struct nn_graph *g, struct gc_ctx *c) {
  return nn_adaptive_avgpool2d(g, gc_input(c, g, 4, S(1, 2, 3, 2), 1), 5, 3);
}

const struct gc_case gc_pool[] = {
    {"maxpool2d_2x2", NN_OP_MAXPOOL2D, maxpool_2x2, 0, 1e-3},
    {"maxpool2d_3x3_s2_p1", NN_OP_MAXPOOL2D, maxpool_3x3_s2_p1, 0, 1e-3},
    {"maxpool2d_3x3_s1", NN_OP_MAXPOOL2D, maxpool_3x3_s1, 0, 1e-3},
    {"avgpool2d_2x2", NN_OP_AVGPOOL2D, avgpool_2x2},
    {"avgpool2d_3x3_s2_p1", NN_OP_AVGPOOL2D, avgpool_3x3_s2_p1},
    {"adaptive_avgpool2d_7x5_to_3x2", NN_OP_ADAPTIVE_AVGPOOL2D, adaptive_7x5_to_3x2},
    {"adaptive_avgpool2d_to_1x1", NN_OP_ADAPTIVE_AVGPOOL2D, adaptive_to_1x1},
    {"adaptive_avgpool2d_3x2_to_5x3", NN_OP_ADAPTIVE_AVGPOOL2D, adaptive_upsample},
    {0},
};
