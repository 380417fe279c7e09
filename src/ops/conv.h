/* conv ops: 2-D convolution (torch.nn.Conv2d semantics) by im2col + gemm. */
#ifndef NN_OPS_CONV_H
#define NN_OPS_CONV_H
#include "../nn_graph.h"

/* Geometry of a convolution: input (n,c,h,w), weight (o,c,kh,kw), output (n,o,ho,wo). */
struct nn_conv_geom {
  int64_t n, c, h, w, o, kh, kw, stride, pad, ho, wo;
};

/* Kernels of this family; every backend provides one instance (nn_cpu_conv, ...).
 * A "chunk" is g consecutive images; its column matrix cols(c*kh*kw, g*ho*wo) holds in
 * column (i*ho*wo + p) the receptive field of output position p of image i. */
struct nn_k_conv {
  /* preferred size in floats of one chunk's column matrix (sets the images per chunk) */
  int64_t cols_budget;
  /* cols(c*kh*kw, g*ho*wo) = patches of x(g,c,h,w), zero where padded */
  void (*im2col)(float *cols, const float *x, const struct nn_conv_geom *d, int64_t g);
  /* dx(g,c,h,w) += cols(c*kh*kw, g*ho*wo) summed back onto the pixels each column came from */
  void (*col2im)(float *dx, const float *cols, const struct nn_conv_geom *d, int64_t g);
  /* y(g,o,p) = t(o,g*p) + b(o); b may be NULL */
  void (*unchunk)(float *y, const float *t, const float *b, int64_t g, int64_t o, int64_t p);
  /* t(o,g*p) = dy(g,o,p) */
  void (*chunk)(float *t, const float *dy, int64_t g, int64_t o, int64_t p);
  /* y(n,o,p) += b(o) */
  void (*add_bias)(float *y, const float *b, int64_t n, int64_t o, int64_t p);
  /* db(o) += sum over n and p of dy(n,o,p) */
  void (*bias_grad)(float *db, const float *dy, int64_t n, int64_t o, int64_t p);
};

/* y(N,O,Ho,Wo) = conv2d of x(N,C,H,W) with w(O,C,KH,KW) + b(O); b may be NULL;
 * Ho = (H + 2*pad - KH) / stride + 1, likewise Wo. */
struct nn_tensor *nn_conv2d(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *b,
                            int64_t stride, int64_t pad);

#endif
