/* pool ops: forward, backward and shape checks, calling kernels through g->be->k->pool. */
#include "pool.h"
#include "../nn_backend.h"

/* Geometry of pooling x(N,C,H,W) to (ho,wo) with attributes (k, stride, pad, adaptive). */
static struct nn_pool_geom pool_geom(const struct nn_tensor *x, int64_t ho, int64_t wo, const int64_t *attr) {
  return (struct nn_pool_geom){.planes = x->shape[0] * x->shape[1], .h = x->shape[2], .w = x->shape[3],
                               .ho = ho, .wo = wo, .k = attr[0], .stride = attr[1], .pad = attr[2],
                               .adaptive = (int)attr[3]};
}

/* Output size of a fixed-window pooling, with the op's shape checks. */
static void pool_out_size(const char *op, const struct nn_tensor *x, int64_t k, int64_t stride, int64_t pad,
                          int64_t *ho, int64_t *wo) {
  char s1[64];
  NN_CHECK_NDIM(op, x, 4);
  NN_ASSERT(k >= 1 && stride >= 1 && pad >= 0 && 2 * pad <= k,
            "%s: kernel %lld, stride %lld, pad %lld: need k >= 1, stride >= 1, 0 <= pad <= k/2", op,
            (long long)k, (long long)stride, (long long)pad);
  NN_ASSERT(x->shape[2] + 2 * pad >= k && x->shape[3] + 2 * pad >= k,
            "%s: kernel %lld larger than the padded input %s (pad %lld)", op, (long long)k,
            nn_shape_str(x, s1, 64), (long long)pad);
  *ho = (x->shape[2] + 2 * pad - k) / stride + 1;
  *wo = (x->shape[3] + 2 * pad - k) / stride + 1;
}

static void maxpool2d_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_pool_args a = *(const struct nn_pool_args *)n->attr;
  a.dx = n->in[0]->grad;
  a.dy = n->out->grad;
  g->be->k->pool->max_bwd(g->be, &a);
}

struct nn_tensor *nn_maxpool2d(struct nn_graph *g, struct nn_tensor *x, int64_t k, int64_t stride, int64_t pad) {
  NN_NULL_IN(x);
  int64_t ho, wo, attr[4] = {k, stride, pad, 0};
  pool_out_size("maxpool2d", x, k, stride, pad, &ho, &wo);
  char s1[64];
  NN_ASSERT(x->shape[2] * x->shape[3] <= INT32_MAX, "maxpool2d: plane of %s too large for int32 argmax",
            nn_shape_str(x, s1, 64));
  struct nn_pool_geom d = pool_geom(x, ho, wo, attr);
  const int64_t *shape = NN_SHAPE(x->shape[0], x->shape[1], ho, wo);
  struct nn_tensor *y = nn_new(g, NN_F32, 4, shape), *arg = nn_new(g, NN_I32, 4, shape);
  NN_NULL_IN(y, arg);
  struct nn_pool_args a = {.d = d, .x = x->data, .y = y->data, .arg = arg->i32};
  g->be->k->pool->max_fwd(g->be, &a);
  struct nn_node *n = nn_record(g, NN_OP_MAXPOOL2D, maxpool2d_backward, y, 1, &x);
  if (n) n->saved[0] = arg;
  nn_node_attr(g, n, &a, sizeof a);
  return y;
}

static void avgpool_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_pool_args a = *(const struct nn_pool_args *)n->attr;
  a.dx = n->in[0]->grad;
  a.dy = n->out->grad;
  g->be->k->pool->avg_bwd(g->be, &a);
}

/* y(N,C,ho,wo) = window means of x, recorded as op. */
static struct nn_tensor *avgpool(struct nn_graph *g, enum nn_op op, struct nn_tensor *x, int64_t ho, int64_t wo,
                                 const int64_t *attr) {
  struct nn_pool_geom d = pool_geom(x, ho, wo, attr);
  struct nn_tensor *y = nn_new(g, NN_F32, 4, NN_SHAPE(x->shape[0], x->shape[1], ho, wo));
  NN_NULL_IN(y);
  struct nn_pool_args a = {.d = d, .x = x->data, .y = y->data};
  g->be->k->pool->avg_fwd(g->be, &a);
  nn_node_attr(g, nn_record(g, op, avgpool_backward, y, 1, &x), &a, sizeof a);
  return y;
}

struct nn_tensor *nn_avgpool2d(struct nn_graph *g, struct nn_tensor *x, int64_t k, int64_t stride, int64_t pad) {
  NN_NULL_IN(x);
  int64_t ho, wo;
  pool_out_size("avgpool2d", x, k, stride, pad, &ho, &wo);
  return avgpool(g, NN_OP_AVGPOOL2D, x, ho, wo, NN_SHAPE(k, stride, pad, 0));
}

struct nn_tensor *nn_adaptive_avgpool2d(struct nn_graph *g, struct nn_tensor *x, int64_t oh, int64_t ow) {
  NN_NULL_IN(x);
  NN_CHECK_NDIM("adaptive_avgpool2d", x, 4);
  NN_ASSERT(oh >= 1 && ow >= 1, "adaptive_avgpool2d: output size (%lld,%lld) must be positive", (long long)oh,
            (long long)ow);
  return avgpool(g, NN_OP_ADAPTIVE_AVGPOOL2D, x, oh, ow, NN_SHAPE(0, 1, 0, 1));
}
