/* Gradient-check cases of the reduce ops. */
#include "gradcheck.h"

#define S NN_SHAPE
static struct nn_tensor *x357(struct nn_graph *g, struct gc_ctx *c) { return gc_input(c, g, 3, S(3, 5, 7), 1); }
static struct nn_tensor *sum_all(struct nn_graph *g, struct gc_ctx *c) { return nn_sum(g, x357(g, c)); }
static struct nn_tensor *mean_all(struct nn_graph *g, struct gc_ctx *c) { return nn_mean(g, x357(g, c)); }
static struct nn_tensor *sum_d0(struct nn_graph *g, struct gc_ctx *c) { return nn_sum_dim(g, x357(g, c), 0); }
static struct nn_tensor *sum_d1(struct nn_graph *g, struct gc_ctx *c) { return nn_sum_dim(g, x357(g, c), 1); }
static struct nn_tensor *sum_dl(struct nn_graph *g, struct gc_ctx *c) { return nn_sum_dim(g, x357(g, c), 2); }
static struct nn_tensor *mean_d0(struct nn_graph *g, struct gc_ctx *c) { return nn_mean_dim(g, x357(g, c), 0); }
static struct nn_tensor *mean_d1(struct nn_graph *g, struct gc_ctx *c) { return nn_mean_dim(g, x357(g, c), 1); }
static struct nn_tensor *mean_dl(struct nn_graph *g, struct gc_ctx *c) { return nn_mean_dim(g, x357(g, c), -1); }
static struct nn_tensor *mean_4d(struct nn_graph *g, struct gc_ctx *c) { return nn_mean_dim(g, gc_input(c, g, 4, S(2, 3, 4, 5), 1), 2); }
/* threaded paths: a long full sum, many long rows, wide inner blocks */
static struct nn_tensor *sum_big(struct nn_graph *g, struct gc_ctx *c) { return nn_sum(g, gc_input(c, g, 2, S(11, 3001), 1)); }
static struct nn_tensor *sum_rows_big(struct nn_graph *g, struct gc_ctx *c) { return nn_sum_dim(g, gc_input(c, g, 2, S(11, 3001), 1), 1); }
static struct nn_tensor *mean_cols_big(struct nn_graph *g, struct gc_ctx *c) { return nn_mean_dim(g, gc_input(c, g, 3, S(3, 41, 301), 1), 1); }

const struct gc_case gc_reduce[] = {
    {"sum_all", NN_OP_SUM, sum_all},
    {"sum_dim0", NN_OP_SUM, sum_d0},
    {"sum_dim1", NN_OP_SUM, sum_d1},
    {"sum_dimlast", NN_OP_SUM, sum_dl},
    {"sum_all_big", NN_OP_SUM, sum_big},
    {"sum_rows_big", NN_OP_SUM, sum_rows_big},
    {"mean_all", NN_OP_MEAN, mean_all},
    {"mean_dim0", NN_OP_MEAN, mean_d0},
    {"mean_dim1", NN_OP_MEAN, mean_d1},
    {"mean_dimlast_neg", NN_OP_MEAN, mean_dl},
    {"mean_dim2_4d", NN_OP_MEAN, mean_4d},
    {"mean_cols_big", NN_OP_MEAN, mean_cols_big},
    {0},
};
