/* conv ops: 2-D convolution (torch.nn.Conv2d semantics). */
#ifndef NN_OPS_CONV_H
#define NN_OPS_CONV_H
#include "../nn_graph.h"

/* Geometry of a convolution: input (n,c,h,w), weight (o,c,kh,kw), output (n,o,ho,wo). */
struct nn_conv_geom {
  int64_t n, c, h, w, o, kh, kw, stride, pad, ho, wo;
};

/* Kernels of this family; every backend provides one instance (nn_cpu_conv, ...). A backend
 * picks its own scheme (the CPU one: im2col + sgemm per image, images spread over threads). */
struct nn_k_conv {
  /* floats of scratch memory that fwd (bwd = 0) or bwd (bwd = 1) needs for geometry d */
  int64_t (*scratch_floats)(const struct nn_conv_geom *d, int bwd);
  /* y(n,o,ho,wo) = conv of x(n,c,h,w) with w(o,c,kh,kw) + b(o); b may be NULL */
  void (*fwd)(float *y, const float *x, const float *w, const float *b, const struct nn_conv_geom *d,
              float *scratch);
  /* dx(n,c,h,w) += d/dx, dw(o,c,kh,kw) += d/dw, db(o) += d/db of sum(y * dy(n,o,ho,wo));
   * a NULL gradient is not computed */
  void (*bwd)(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
              const struct nn_conv_geom *d, float *scratch);
};

/* y(N,O,Ho,Wo) = conv2d of x(N,C,H,W) with w(O,C,KH,KW) + b(O); b may be NULL;
 * Ho = (H + 2*pad - KH) / stride + 1, likewise Wo. */
struct nn_tensor *nn_conv2d(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *b,
                            int64_t stride, int64_t pad);

#endif
