/* Gradient-check cases of the conv ops. */
#include "gradcheck.h"

#define S NN_SHAPE
/* conv2d of x(n,c,h,w) with w(o,c,k,k) and, if bias, b(o). */
static struct nn_tensor *conv_case(struct nn_graph *g, struct gc_ctx *c, int64_t n, int64_t ch, int64_t h,
                                   int64_t w, int64_t o, int64_t k, int64_t stride, int64_t pad, int bias) {
  struct nn_tensor *x = gc_input(c, g, 4, S(n, ch, h, w), 1), *wt = gc_input(c, g, 4, S(o, ch, k, k), 0.5f);
  return nn_conv2d(g, x, wt, bias ? gc_input(c, g, 1, S(o), 1) : NULL, stride, pad);
}
static struct nn_tensor *conv_3x3_p1(struct nn_graph *g, struct gc_ctx *c) {
  return conv_case(g, c, 2, 3, 7, 6, 4, 3, 1, 1, 1);
}
static struct nn_tensor *conv_5x5_nopad(struct nn_graph *g, struct gc_ctx *c) {
  return conv_case(g, c, 2, 2, 7, 8, 3, 5, 1, 0, 1);
}
static struct nn_tensor *conv_3x3_s2_p1(struct nn_graph *g, struct gc_ctx *c) {
  return conv_case(g, c, 2, 3, 7, 6, 4, 3, 2, 1, 1);
}
static struct nn_tensor *conv_1x1(struct nn_graph *g, struct gc_ctx *c) {
  return conv_case(g, c, 3, 5, 3, 4, 2, 1, 1, 0, 1);
}
static struct nn_tensor *conv_1x1_s2_nobias(struct nn_graph *g, struct gc_ctx *c) {
  return conv_case(g, c, 2, 4, 5, 7, 3, 1, 2, 0, 0);
}
static struct nn_tensor *conv_nobias_s3_p2(struct nn_graph *g, struct gc_ctx *c) {
  return conv_case(g, c, 1, 2, 8, 9, 3, 4, 3, 2, 0);
}
/* a rectangular kernel, and a weight without gradient (only x gets one) */
static struct nn_tensor *conv_rect_const_w(struct nn_graph *g, struct gc_ctx *c) {
  struct nn_tensor *x = gc_input(c, g, 4, S(2, 2, 5, 6), 1);
  return nn_conv2d(g, x, gc_const(c, g, 4, S(3, 2, 2, 3), 0.5f), NULL, 1, 1);
}
/* an input without gradient (the first layer of a network): only w and b get one */
static struct nn_tensor *conv_const_x(struct nn_graph *g, struct gc_ctx *c) {
  struct nn_tensor *x = gc_const(c, g, 4, S(2, 1, 6, 6), 1);
  return nn_conv2d(g, x, gc_input(c, g, 4, S(3, 1, 3, 3), 0.5f), gc_input(c, g, 1, S(3), 1), 1, 0);
}

const struct gc_case gc_conv[] = {
    {"conv2d_3x3_p1", NN_OP_CONV2D, conv_3x3_p1},
    {"conv2d_5x5_nopad", NN_OP_CONV2D, conv_5x5_nopad},
    {"conv2d_3x3_s2_p1", NN_OP_CONV2D, conv_3x3_s2_p1},
    {"conv2d_1x1", NN_OP_CONV2D, conv_1x1},
    {"conv2d_1x1_s2_nobias", NN_OP_CONV2D, conv_1x1_s2_nobias},
    {"conv2d_4x4_s3_p2_nobias", NN_OP_CONV2D, conv_nobias_s3_p2},
    {"conv2d_rect_const_w", NN_OP_CONV2D, conv_rect_const_w},
    {"conv2d_const_x", NN_OP_CONV2D, conv_const_x},
    {0},
};
