/* conv ops: forward, backward and shape checks, calling kernels through g->be->k->conv. */
#include "conv.h"
#include "../nn_backend.h"

/* Geometry of conv2d(x, w, b) with the shape checks of the op. */
static struct nn_conv_geom conv_geom(const struct nn_tensor *x, const struct nn_tensor *w,
                                     const struct nn_tensor *b, int64_t stride, int64_t pad) {
  char s1[64], s2[64];
  NN_CHECK_NDIM("conv2d", x, 4);
  NN_CHECK_NDIM("conv2d", w, 4);
  NN_ASSERT(stride >= 1 && pad >= 0, "conv2d: stride %lld must be >= 1 and pad %lld >= 0",
            (long long)stride, (long long)pad);
  struct nn_conv_geom d = {.n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3],
                           .o = w->shape[0], .kh = w->shape[2], .kw = w->shape[3],
                           .stride = stride, .pad = pad};
  NN_ASSERT(w->shape[1] == d.c, "conv2d: input %s has %lld channels, weight %s (O,C,KH,KW) expects %lld",
            nn_shape_str(x, s1, 64), (long long)d.c, nn_shape_str(w, s2, 64), (long long)w->shape[1]);
  NN_ASSERT(!b || (b->ndim == 1 && b->shape[0] == d.o), "conv2d: bias %s, expected (%lld)",
            b ? nn_shape_str(b, s1, 64) : "", (long long)d.o);
  NN_ASSERT(d.h + 2 * pad >= d.kh && d.w + 2 * pad >= d.kw,
            "conv2d: kernel %s larger than the padded input %s (pad %lld)", nn_shape_str(w, s2, 64),
            nn_shape_str(x, s1, 64), (long long)pad);
  d.ho = (d.h + 2 * pad - d.kh) / stride + 1;
  d.wo = (d.w + 2 * pad - d.kw) / stride + 1;
  return d;
}

/* Scratch memory for the kernel of geometry d (NULL when none is needed or out of memory), of
 * *bytes; in backward it goes back to the arena when the node's backward returns, in forward the
 * caller hands it back (nn_scratch_free) right after the kernel. */
static float *conv_scratch(struct nn_graph *g, const struct nn_conv_args *a, int bwd, size_t *bytes, int *oom) {
  int64_t n = g->be->k->conv->scratch_floats(g->be, a, bwd);
  *bytes = sizeof(float) * (size_t)(n > 0 ? n : 0);
  float *s = n > 0 ? nn_scratch(g, *bytes) : NULL;
  *oom = n > 0 && !s;
  return s;
}

static void conv2d_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
  struct nn_conv_args a = *(const struct nn_conv_args *)n->attr;
  int oom;
  size_t bytes;
  a.scratch = conv_scratch(g, &a, 1, &bytes, &oom);
  if (oom) return; /* g->status is set */
  a.dy = n->out->grad;
  a.dx = x->requires_grad ? x->grad : NULL;
  a.dw = w->requires_grad ? w->grad : NULL;
  a.db = b && b->requires_grad ? b->grad : NULL;
  g->be->k->conv->bwd(g->be, &a);
}

struct nn_tensor *nn_conv2d(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *b,
                            int64_t stride, int64_t pad) {
  NN_NULL_IN(x, w);
  struct nn_conv_geom d = conv_geom(x, w, b, stride, pad);
  struct nn_tensor *y = nn_new(g, NN_F32, 4, NN_SHAPE(d.n, d.o, d.ho, d.wo));
  NN_NULL_IN(y);
  struct nn_conv_args a = {.d = d, .x = x->data, .w = w->data, .b = b ? b->data : NULL, .y = y->data};
  int oom;
  size_t bytes;
  a.scratch = conv_scratch(g, &a, 0, &bytes, &oom);
  if (oom) return NULL;
  g->be->k->conv->fwd(g->be, &a);
  nn_scratch_free(g, a.scratch, bytes);
  a.scratch = NULL;
  nn_node_attr(g, nn_record(g, NN_OP_CONV2D, conv2d_backward, y, 3, (struct nn_tensor *[]){x, w, b}), &a, sizeof a);
  return y;
}
