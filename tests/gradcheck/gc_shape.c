/* Gradient-check cases of the shape ops. */
#include "gradcheck.h"

#define S NN_SHAPE
static struct nn_tensor *reshape_m1(struct nn_graph *g, struct gc_ctx *c) {
  return nn_reshape(g, gc_input(c, g, 3, S(3, 5, 7), 1), 2, S(-1, 7));
}
static struct nn_tensor *reshape_4d(struct nn_graph *g, struct gc_ctx *c) {
  return nn_reshape(g, gc_input(c, g, 2, S(6, 35), 1), 4, S(2, 3, 5, -1));
}
static struct nn_tensor *permute_3d(struct nn_graph *g, struct gc_ctx *c) {
  return nn_permute(g, gc_input(c, g, 3, S(3, 5, 7), 1), (const int[]){2, 0, 1});
}
static struct nn_tensor *permute_4d(struct nn_graph *g, struct gc_ctx *c) {
  return nn_permute(g, gc_input(c, g, 4, S(2, 3, 4, 5), 1), (const int[]){0, 2, 1, 3});
}
static struct nn_tensor *permute_4d_nchw(struct nn_graph *g, struct gc_ctx *c) {
  return nn_permute(g, gc_input(c, g, 4, S(2, 3, 4, 5), 1), (const int[]){0, 3, 1, 2});
}
/* last two dims swapped, big enough for the tiled kernel (partial tiles) */
static struct nn_tensor *transpose_tiled(struct nn_graph *g, struct gc_ctx *c) {
  return nn_transpose(g, gc_input(c, g, 3, S(2, 37, 45), 1), 1, 2);
}
static struct nn_tensor *transpose_neg(struct nn_graph *g, struct gc_ctx *c) {
  return nn_transpose(g, gc_input(c, g, 4, S(2, 3, 4, 5), 1), -1, 1);
}
static struct nn_tensor *narrow_d0(struct nn_graph *g, struct gc_ctx *c) {
  return nn_narrow(g, gc_input(c, g, 3, S(7, 3, 5), 1), 0, 2, 3);
}
static struct nn_tensor *narrow_d1(struct nn_graph *g, struct gc_ctx *c) {
  return nn_narrow(g, gc_input(c, g, 3, S(3, 7, 5), 1), 1, 1, 4);
}
static struct nn_tensor *narrow_dl(struct nn_graph *g, struct gc_ctx *c) {
  return nn_narrow(g, gc_input(c, g, 3, S(3, 5, 7), 1), -1, 3, 4);
}
/* concat of three inputs of different sizes along dim */
static struct nn_tensor *concat3(struct nn_graph *g, struct gc_ctx *c, int dim, int nd, const int64_t *s0,
                                 const int64_t *s1, const int64_t *s2) {
  struct nn_tensor *xs[3] = {gc_input(c, g, nd, s0, 1), gc_input(c, g, nd, s1, 1), gc_input(c, g, nd, s2, 1)};
  return nn_concat(g, 3, xs, dim);
}
static struct nn_tensor *concat_d0(struct nn_graph *g, struct gc_ctx *c) {
  return concat3(g, c, 0, 3, S(2, 3, 5), S(1, 3, 5), S(3, 3, 5));
}
static struct nn_tensor *concat_d1(struct nn_graph *g, struct gc_ctx *c) {
  return concat3(g, c, 1, 3, S(3, 2, 5), S(3, 1, 5), S(3, 4, 5));
}
static struct nn_tensor *concat_dl(struct nn_graph *g, struct gc_ctx *c) {
  return concat3(g, c, -1, 3, S(3, 5, 2), S(3, 5, 3), S(3, 5, 1));
}
/* one input without gradient: only the others receive one */
static struct nn_tensor *concat_const(struct nn_graph *g, struct gc_ctx *c) {
  struct nn_tensor *xs[2] = {gc_const(c, g, 2, S(3, 4), 1), gc_input(c, g, 2, S(3, 5), 1)};
  return nn_concat(g, 2, xs, 1);
}

const struct gc_case gc_shape[] = {
    {"reshape_minus1", NN_OP_RESHAPE, reshape_m1},
    {"reshape_4d", NN_OP_RESHAPE, reshape_4d},
    {"permute_3d", NN_OP_PERMUTE, permute_3d},
    {"permute_4d_heads", NN_OP_PERMUTE, permute_4d},
    {"permute_4d_nhwc", NN_OP_PERMUTE, permute_4d_nchw},
    {"permute_transpose_tiled", NN_OP_PERMUTE, transpose_tiled},
    {"permute_transpose_neg", NN_OP_PERMUTE, transpose_neg},
    {"narrow_dim0_shared", NN_OP_NARROW, narrow_d0},
    {"narrow_dim1", NN_OP_NARROW, narrow_d1},
    {"narrow_dimlast", NN_OP_NARROW, narrow_dl},
    {"concat_dim0", NN_OP_CONCAT, concat_d0},
    {"concat_dim1", NN_OP_CONCAT, concat_d1},
    {"concat_dimlast", NN_OP_CONCAT, concat_dl},
    {"concat_const_input", NN_OP_CONCAT, concat_const},
    {0},
};
