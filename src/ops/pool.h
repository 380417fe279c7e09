/* pool ops: max, average and adaptive average pooling over (N,C,H,W) (torch semantics). */
#ifndef NN_OPS_POOL_H
#define NN_OPS_POOL_H
#include "../nn_graph.h"

struct nn_backend;

/* Geometry of a pooling: `planes` = N*C planes of (h,w) pooled to (ho,wo). Fixed windows
 * start at o*stride - pad and span k; adaptive windows (adaptive = 1) span
 * [floor(o*h/ho), ceil((o+1)*h/ho)) and ignore k, stride and pad. */
struct nn_pool_geom {
  int64_t planes, h, w, ho, wo, k, stride, pad;
  int adaptive;
};

/* Arguments of the pool kernels. */
struct nn_pool_args {
  struct nn_pool_geom d;
  const float *x;   /* (planes,h,w) */
  float *y;         /* forward: (planes,ho,wo) */
  int32_t *arg;     /* max: argmax per output, written by forward, read by backward */
  const float *dy;  /* backward */
  float *dx;        /* backward: += */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_pool, ...). */
struct nn_k_pool {
  /* y(planes,ho,wo) = max of x(planes,h,w) over each window; arg = its index h*w within the plane */
  void (*max_fwd)(const struct nn_backend *be, const struct nn_pool_args *a);
  /* dx(planes,h,w) += dy(planes,ho,wo) routed to the argmax of each window */
  void (*max_bwd)(const struct nn_backend *be, const struct nn_pool_args *a);
  /* y(planes,ho,wo) = window sums of x(planes,h,w) / window size (padding counts, as torch) */
  void (*avg_fwd)(const struct nn_backend *be, const struct nn_pool_args *a);
  /* dx(planes,h,w) += dy(planes,ho,wo) / window size spread over each window */
  void (*avg_bwd)(const struct nn_backend *be, const struct nn_pool_args *a);
};

/* y(N,C,Ho,Wo) = max over k x k windows of x(N,C,H,W); padded positions never win;
 * Ho = (H + 2*pad - k) / stride + 1 (torch max_pool2d, floor mode). */
struct nn_tensor *nn_maxpool2d(struct nn_graph *g, struct nn_tensor *x, int64_t k, int64_t stride, int64_t pad);
/* y(N,C,Ho,Wo) = mean over k x k windows of x(N,C,H,W) with zero padding counted (torch avg_pool2d,
 * count_include_pad=True, floor mode). */
struct nn_tensor *nn_avgpool2d(struct nn_graph *g, struct nn_tensor *x, int64_t k, int64_t stride, int64_t pad);
/* y(N,C,oh,ow) = mean of x(N,C,H,W) over torch's adaptive windows. */
struct nn_tensor *nn_adaptive_avgpool2d(struct nn_graph *g, struct nn_tensor *x, int64_t oh, int64_t ow);

#endif
