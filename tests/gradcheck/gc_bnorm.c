/* Gradient-check cases of the bnorm ops. */
#include "gradcheck.h"

#define S NN_SHAPE
/* batchnorm2d of x(2,3,4,5) in training or eval mode, with or without affine parameters */
static struct nn_tensor *bn_case(struct nn_graph *g, struct gc_ctx *c, int training, int affine) {
  struct nn_tensor *x = gc_input(c, g, 4, S(2, 3, 4, 5), 1);
  struct nn_tensor *w = affine ? gc_input(c, g, 1, S(3), 1) : NULL, *b = affine ? gc_input(c, g, 1, S(3), 1) : NULL;
  struct nn_tensor *rm = gc_const(c, g, 1, S(3), 0.3f), *rv = gc_const(c, g, 1, S(3), 0.3f);
  for (int i = 0; i < 3; i++) rv->data[i] = 0.5f + rv->data[i] * rv->data[i]; /* a positive variance */
  g->training = training;
  return nn_batchnorm2d(g, x, w, b, rm, rv, 0.1f, 1e-5f);
}
static struct nn_tensor *bn_train_affine(struct nn_graph *g, struct gc_ctx *c) { return bn_case(g, c, 1, 1); }
static struct nn_tensor *bn_train_plain(struct nn_graph *g, struct gc_ctx *c) { return bn_case(g, c, 1, 0); }
static struct nn_tensor *bn_eval_affine(struct nn_graph *g, struct gc_ctx *c) { return bn_case(g, c, 0, 1); }
static struct nn_tensor *bn_eval_plain(struct nn_graph *g, struct gc_ctx *c) { return bn_case(g, c, 0, 0); }
/* no running statistics: batch statistics even in eval mode; odd sizes */
static struct nn_tensor *bn_no_running(struct nn_graph *g, struct gc_ctx *c) {
  struct nn_tensor *x = gc_input(c, g, 4, S(3, 2, 3, 1), 1);
  g->training = 0;
  return nn_batchnorm2d(g, x, gc_input(c, g, 1, S(2), 1), gc_input(c, g, 1, S(2), 1), NULL, NULL, 0.1f, 1e-5f);
}
/* --sync-bn's path on one rank (the reduction hook leaves the sums as they are): statistics from the
 * bnorm sums kernel, dx from bwd_dx; the same values as batchnorm2d_train_affine */
static nn_status one_rank(void *ctx, double *x, int n) {
  (void)ctx;
  (void)x;
  (void)n;
  return NN_OK;
}
static struct nn_tensor *bn_train_sync(struct nn_graph *g, struct gc_ctx *c) {
  g->reduce = one_rank;
  g->reduce_ctx = NULL;
  return bn_case(g, c, 1, 1);
}

const struct gc_case gc_bnorm[] = {
    {"batchnorm2d_train_sync_one_rank", NN_OP_BATCHNORM2D, bn_train_sync},
    {"batchnorm2d_train_affine", NN_OP_BATCHNORM2D, bn_train_affine},
    {"batchnorm2d_train_plain", NN_OP_BATCHNORM2D, bn_train_plain},
    {"batchnorm2d_eval_affine", NN_OP_BATCHNORM2D, bn_eval_affine},
    {"batchnorm2d_eval_plain", NN_OP_BATCHNORM2D, bn_eval_plain},
    {"batchnorm2d_no_running_stats", NN_OP_BATCHNORM2D, bn_no_running},
    {0},
};
