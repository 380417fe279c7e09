/* conv ops: 2-D convolution (torch.nn.Conv2d semantics). */
#ifndef NN_OPS_CONV_H
#define NN_OPS_CONV_H
#include "../nn_graph.h"

struct nn_backend;

/* Geometry of a convolution: input (n,c,h,w), weight (o,c,kh,kw), output (n,o,ho,wo). */
struct nn_conv_geom {
  int64_t n, c, h, w, o, kh, kw, stride, pad, ho, wo;
};

/* Arguments of the conv kernels. */
struct nn_conv_args {
  struct nn_conv_geom d;
  const float *x, *w, *b; /* b may be NULL */
  float *y;               /* forward output */
  const float *dy;        /* backward */
  float *dx, *dw, *db;    /* backward: +=, a NULL gradient is not computed */
  float *scratch;         /* scratch_floats() floats */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_conv, ...). A backend
 * picks its own scheme (the CPU one: im2col + sgemm per image, images spread over threads). */
struct nn_k_conv {
  /* floats of scratch memory that fwd (bwd = 0) or bwd (bwd = 1) needs for geometry a->d */
  int64_t (*scratch_floats)(const struct nn_backend *be, const struct nn_conv_args *a, int bwd);
  /* y(n,o,ho,wo) = conv of x(n,c,h,w) with w(o,c,kh,kw) + b(o) */
  void (*fwd)(const struct nn_backend *be, const struct nn_conv_args *a);
  /* dx(n,c,h,w) += d/dx, dw(o,c,kh,kw) += d/dw, db(o) += d/db of sum(y * dy(n,o,ho,wo)) */
  void (*bwd)(const struct nn_backend *be, const struct nn_conv_args *a);
};

/* y(N,O,Ho,Wo) = conv2d of x(N,C,H,W) with w(O,C,KH,KW) + b(O); b may be NULL;
 * Ho = (H + 2*pad - KH) / stride + 1, likewise Wo. */
struct nn_tensor *nn_conv2d(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *b,
                            int64_t stride, int64_t pad);

#endif
