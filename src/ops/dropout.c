/* dropout ops: forward, backward and shape checks, calling kernels through g->be->k->dropout. */
#include "dropout.h"
#include "../nn_backend.h"

static void dropout_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_dropout_args a = *(const struct nn_dropout_args *)n->attr;
  a.dx = n->in[0]->grad;
  a.dy = n->out->grad;
  g->be->k->dropout->backward(g->be, &a);
}

struct nn_tensor *nn_dropout(struct nn_graph *g, struct nn_tensor *x, float p) {
  NN_NULL_IN(x);
  char s[64];
  NN_ASSERT(p >= 0.0f && p <= 1.0f, "dropout: p = %g outside [0, 1] for x %s", (double)p, nn_shape_str(x, s, 64));
  if (!g->training || p == 0.0f) return x;
  NN_ASSERT(x->dtype == NN_F32, "dropout: x %s must be float32", nn_shape_str(x, s, 64));
  uint32_t stream = NN_RNG_STREAM_OPS + (uint32_t)g->rng_calls++;
  int64_t batch = x->ndim > 0 ? x->shape[0] : 1, per = batch > 0 ? x->numel / batch : 1;
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  struct nn_tensor *y = nn_new_like(g, x);
  /* the keep mask, one byte per element, in an int32 tensor of numel/4 words */
  struct nn_tensor *mask = nn_new(g, NN_I32, 1, NN_SHAPE((x->numel + 3) / 4));
  NN_NULL_IN(y, mask);
  struct nn_dropout_args a = {.n = x->numel, .per = per, .p = p, .scale = scale, .seed = g->seed,
                              .step = (uint64_t)g->step, .stream = stream, .base = g->sample_base,
                              .stride = g->sample_stride, .x = x->data, .y = y->data, .mask = (uint8_t *)mask->ptr};
  g->be->k->dropout->forward(g->be, &a);
  struct nn_node *n = nn_record(g, NN_OP_DROPOUT, dropout_backward, y, 1, &x);
  if (n) n->saved[0] = mask;
  nn_node_attr(g, n, &a, sizeof a);
  return y;
}
