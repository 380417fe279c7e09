/* conv ops: forward, backward and shape checks, calling kernels through g->be->conv.
 * The batch is processed in chunks of images whose column matrix fits the backend's budget:
 * per chunk one im2col and one gemm (large batches of small images get wide gemms, large
 * images get one image per chunk and a gemm straight into the output). */
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

/* Images per chunk: as many as the backend's column budget allows, at least 1. */
static int64_t conv_chunk_images(const struct nn_graph *g, const struct nn_conv_geom *d) {
  int64_t per_image = d->c * d->kh * d->kw * d->ho * d->wo;
  int64_t imgs = g->be->conv->cols_budget / (per_image ? per_image : 1);
  return imgs < 1 ? 1 : imgs > d->n ? d->n : imgs;
}

/* 1 when the column matrix of a single image is the image itself (1x1, stride 1, no padding). */
static int conv_is_pointwise(const struct nn_conv_geom *d) {
  return d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0;
}

/* Scratch of a chunk of G images: cols(K, G*P) (none when images are their own columns) and
 * t(O, G*P) for the chunk's output in gemm layout (none when G == 1). 0 when out of memory. */
static int conv_scratch(struct nn_graph *g, const struct nn_conv_geom *d, int64_t G, float **cols, float **t) {
  int64_t K = d->c * d->kh * d->kw, P = d->ho * d->wo;
  *cols = *t = NULL;
  if (!(G == 1 && conv_is_pointwise(d)) && !(*cols = nn_scratch(g, sizeof(float) * (size_t)(K * G * P))))
    return 0;
  if (G > 1 && !(*t = nn_scratch(g, sizeof(float) * (size_t)(d->o * G * P)))) return 0;
  return 1;
}

static void conv2d_backward(struct nn_graph *gr, struct nn_node *n) {
  struct nn_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
  const struct nn_k_conv *kc = gr->be->conv;
  struct nn_conv_geom d = conv_geom(x, w, b, n->i[0], n->i[1]);
  int64_t K = d.c * d.kh * d.kw, P = d.ho * d.wo, G = conv_chunk_images(gr, &d);
  int64_t xs = d.c * d.h * d.w, ys = d.o * P;
  const float *dy = n->out->grad;
  if (b && b->requires_grad) kc->bias_grad(b->grad, dy, d.n, d.o, P);
  if (!x->requires_grad && !w->requires_grad) return;
  float *cols, *t;
  if (!conv_scratch(gr, &d, G, &cols, &t)) return; /* out of memory: g->status is set */
  for (int64_t n0 = 0; n0 < d.n; n0 += G) {
    int64_t gn = d.n - n0 < G ? d.n - n0 : G, np = gn * P;
    const float *xc = x->data + n0 * xs, *dyc = dy + n0 * ys;
    int direct = gn == 1 && conv_is_pointwise(&d); /* the image is its own column matrix */
    if (gn > 1) {
      kc->chunk(t, dyc, gn, d.o, P);
      dyc = t;
    }
    if (w->requires_grad) { /* dw(O,K) += dy(O,np) @ cols(K,np)^T */
      if (!direct) kc->im2col(cols, xc, &d, gn);
      gr->be->gemm(w->grad, dyc, direct ? xc : cols, 0, 1, d.o, K, np, 1.0f, 1.0f, 1, 0, 0, 0);
    }
    if (x->requires_grad) { /* dcols(K,np) = w(O,K)^T @ dy(O,np), scattered back onto dx */
      if (direct) {
        gr->be->gemm(x->grad + n0 * xs, w->data, dyc, 1, 0, K, np, d.o, 1.0f, 1.0f, 1, 0, 0, 0);
      } else {
        gr->be->gemm(cols, w->data, dyc, 1, 0, K, np, d.o, 1.0f, 0.0f, 1, 0, 0, 0);
        kc->col2im(x->grad + n0 * xs, cols, &d, gn);
      }
    }
  }
}

struct nn_tensor *nn_conv2d(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *b,
                            int64_t stride, int64_t pad) {
  NN_NULL_IN(x, w);
  const struct nn_k_conv *kc = g->be->conv;
  struct nn_conv_geom d = conv_geom(x, w, b, stride, pad);
  int64_t K = d.c * d.kh * d.kw, P = d.ho * d.wo, G = conv_chunk_images(g, &d);
  int64_t xs = d.c * d.h * d.w, ys = d.o * P;
  struct nn_tensor *y = nn_new(g, NN_F32, 4, NN_SHAPE(d.n, d.o, d.ho, d.wo));
  NN_NULL_IN(y);
  float *cols, *t;
  if (!conv_scratch(g, &d, G, &cols, &t)) return NULL;
  for (int64_t n0 = 0; n0 < d.n; n0 += G) {
    int64_t gn = d.n - n0 < G ? d.n - n0 : G;
    const float *xc = x->data + n0 * xs, *cc = cols;
    if (gn == 1 && conv_is_pointwise(&d)) cc = xc;
    else kc->im2col(cols, xc, &d, gn);
    if (gn == 1) { /* the chunk's output is already in (O,P) layout */
      g->be->gemm(y->data + n0 * ys, w->data, cc, 0, 0, d.o, P, K, 1.0f, 0.0f, 1, 0, 0, 0);
      if (b) kc->add_bias(y->data + n0 * ys, b->data, 1, d.o, P);
    } else {
      g->be->gemm(t, w->data, cc, 0, 0, d.o, gn * P, K, 1.0f, 0.0f, 1, 0, 0, 0);
      kc->unchunk(y->data + n0 * ys, t, b ? b->data : NULL, gn, d.o, P);
    }
  }
  struct nn_node *n = nn_record(g, NN_OP_CONV2D, conv2d_backward, y, 3, (struct nn_tensor *[]){x, w, b});
  if (n) {
    n->i[0] = stride;
    n->i[1] = pad;
  }
  return y;
}
