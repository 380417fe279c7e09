/* reduce ops: forward, backward and shape checks, calling kernels through g->be->k->reduce. */
#include "reduce.h"
#include "../nn_backend.h"

static void reduce_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_reduce_args a = *(const struct nn_reduce_args *)n->attr;
  a.dx = n->in[0]->grad;
  a.dy = n->out->grad;
  g->be->k->reduce->expand(g->be, &a);
}

/* out = alpha * sum of x(outer,n,inner) over n, shaped (ndim, shape); recorded as op. */
static struct nn_tensor *reduce(struct nn_graph *g, enum nn_op op, struct nn_tensor *x, int64_t outer,
                                int64_t len, int64_t inner, int ndim, const int64_t *shape, int mean) {
  char s[64];
  NN_ASSERT(x->dtype == NN_F32, "%s: x %s must be float32", nn_op_name(op), nn_shape_str(x, s, 64));
  struct nn_tensor *out = nn_new(g, NN_F32, ndim, shape);
  NN_NULL_IN(out);
  float alpha = mean ? 1.0f / (float)len : 1.0f;
  struct nn_reduce_args a = {.outer = outer, .n = len, .inner = inner, .alpha = alpha, .x = x->data, .out = out->data};
  g->be->k->reduce->sum(g->be, &a);
  nn_node_attr(g, nn_record(g, op, reduce_backward, out, 1, &x), &a, sizeof a);
  return out;
}

/* Reduce x over dimension dim (negative counts from the end). */
static struct nn_tensor *reduce_dim(struct nn_graph *g, enum nn_op op, struct nn_tensor *x, int dim, int mean) {
  NN_NULL_IN(x);
  char s[64];
  int d = dim < 0 ? dim + x->ndim : dim;
  NN_ASSERT(d >= 0 && d < x->ndim, "%s: dim %d out of range for x %s", nn_op_name(op), dim,
            nn_shape_str(x, s, 64));
  int64_t outer = 1, inner = 1, shape[NN_MAX_DIM];
  for (int i = 0; i < d; i++) outer *= x->shape[i];
  for (int i = d + 1; i < x->ndim; i++) inner *= x->shape[i];
  for (int i = 0, j = 0; i < x->ndim; i++)
    if (i != d) shape[j++] = x->shape[i];
  return reduce(g, op, x, outer, x->shape[d], inner, x->ndim - 1, shape, mean);
}

struct nn_tensor *nn_sum(struct nn_graph *g, struct nn_tensor *x) {
  NN_NULL_IN(x);
  return reduce(g, NN_OP_SUM, x, 1, x->numel, 1, 0, NN_SHAPE(1), 0);
}

struct nn_tensor *nn_mean(struct nn_graph *g, struct nn_tensor *x) {
  NN_NULL_IN(x);
  return reduce(g, NN_OP_MEAN, x, 1, x->numel, 1, 0, NN_SHAPE(1), 1);
}

struct nn_tensor *nn_sum_dim(struct nn_graph *g, struct nn_tensor *x, int dim) {
  return reduce_dim(g, NN_OP_SUM, x, dim, 0);
}

struct nn_tensor *nn_mean_dim(struct nn_graph *g, struct nn_tensor *x, int dim) {
  return reduce_dim(g, NN_OP_MEAN, x, dim, 1);
}
