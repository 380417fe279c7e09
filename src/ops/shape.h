/* shape ops: reshape (shares data), permute/transpose (copies), narrow, concat. */
#ifndef NN_OPS_SHAPE_H
#define NN_OPS_SHAPE_H
#include "../nn_graph.h"

struct nn_backend;

/* Arguments of the shape kernels. */
struct nn_shape_args {
  int accumulate;             /* out += instead of = */
  /* permute: out(shape) element (i0,i1,i2,i3) reads x[sum ik * xstr[k]] */
  int64_t shape[4], xstr[4];
  const float *x;
  float *out;
  /* copy_slab: dst(outer,dn,inner)[:, doff:doff+len, :] = [dst +] src(outer,sn,inner)[:, soff:soff+len, :] */
  float *dst;
  const float *src;
  int64_t dn, doff, sn, soff, outer, len, inner;
};

/* Kernels of this family; every backend provides one instance (nn_cpu_shape, ...). */
struct nn_k_shape {
  /* out(shape) = [out +] x permuted */
  void (*permute)(const struct nn_backend *be, const struct nn_shape_args *a);
  /* the slab copy; with accumulate 0 a plain copy of 32-bit words (so int32 / int64 data move too) */
  void (*copy_slab)(const struct nn_backend *be, const struct nn_shape_args *a);
};

/* out(shape) = x with a new shape of the same size, sharing x's data (one size may be -1; any dtype). */
struct nn_tensor *nn_reshape(struct nn_graph *g, struct nn_tensor *x, int ndim, const int64_t *shape);
/* out(x.shape[perm[0]], ...) = x with dims reordered (perm has x->ndim entries; float32; copies). */
struct nn_tensor *nn_permute(struct nn_graph *g, struct nn_tensor *x, const int *perm);
/* out = x with dims d0 and d1 swapped (a permute; dims may be negative). */
struct nn_tensor *nn_transpose(struct nn_graph *g, struct nn_tensor *x, int d0, int d1);
/* out(..., len, ...) = x[..., start:start+len, ...] along dim, as torch.narrow (dim may be negative);
 * shares x's data when every dim before dim has size 1 (always along dim 0), copies otherwise;
 * any dtype (only float32 takes a gradient). */
struct nn_tensor *nn_narrow(struct nn_graph *g, struct nn_tensor *x, int dim, int64_t start, int64_t len);
/* out = xs[0..n) joined along dim (same shapes and dtype except dim; dim may be negative; n <= 8). */
struct nn_tensor *nn_concat(struct nn_graph *g, int n, struct nn_tensor **xs, int dim);

#endif
