/* shape ops: forward, backward and shape checks, calling kernels through g->be->k->shape. */
#include "shape.h"
#include "../nn_backend.h"

/* A tensor header over x's data from element offset on, with its own shape and no gradient. */
static struct nn_tensor *alias(struct nn_graph *g, struct nn_tensor *x, int ndim, const int64_t *shape,
                               int64_t offset) {
  struct nn_tensor *v = nn_view(g, x, x->ndim, x->shape);
  if (!v) return NULL;
  nn_tensor_set_shape(v, ndim, shape);
  v->ptr = (char *)x->ptr + (size_t)offset * nn_dtype_size(x->dtype);
  v->grad = NULL;
  v->requires_grad = 0;
  v->param_index = -1;
  v->name = NULL;
  return v;
}

/* dim counted from the end when negative, checked against ndim. */
static int norm_dim(const char *op, const struct nn_tensor *x, int dim) {
  char s[64];
  int d = dim < 0 ? dim + x->ndim : dim;
  NN_ASSERT(d >= 0 && d < x->ndim, "%s: dim %d out of range for %s", op, dim, nn_shape_str(x, s, 64));
  return d;
}

/* Sizes before and after dim d. */
static void outer_inner(const struct nn_tensor *x, int d, int64_t *outer, int64_t *inner) {
  *outer = *inner = 1;
  for (int i = 0; i < d; i++) *outer *= x->shape[i];
  for (int i = d + 1; i < x->ndim; i++) *inner *= x->shape[i];
}

/* ---- reshape ---- */

/* Attributes of an op whose output shares x's memory from an element offset (reshape, narrow). */
struct alias_attr {
  int64_t offset;
};

/* dx += dy, element for element, from the alias's offset in x */
static void offset_backward(struct nn_graph *g, struct nn_node *n) {
  const struct alias_attr *a = n->attr;
  nn_be_axpy(g->be, n->in[0]->grad + a->offset, 1.0f, n->out->grad, n->out->numel);
}

struct nn_tensor *nn_reshape(struct nn_graph *g, struct nn_tensor *x, int ndim, const int64_t *shape) {
  NN_NULL_IN(x);
  char s[64];
  NN_ASSERT(ndim >= 0 && ndim <= NN_MAX_DIM, "reshape: %d dims (max %d) for x %s", ndim, NN_MAX_DIM,
            nn_shape_str(x, s, 64));
  int64_t sh[NN_MAX_DIM], known = 1;
  int free_dim = -1;
  for (int i = 0; i < ndim; i++) {
    sh[i] = shape[i];
    if (sh[i] == -1) {
      NN_ASSERT(free_dim < 0, "reshape: more than one -1 in the target shape for x %s", nn_shape_str(x, s, 64));
      free_dim = i;
    } else {
      NN_ASSERT(sh[i] >= 0, "reshape: size %lld in dim %d for x %s", (long long)sh[i], i, nn_shape_str(x, s, 64));
      known *= sh[i];
    }
  }
  if (free_dim >= 0) {
    NN_ASSERT(known > 0 && x->numel % known == 0, "reshape: x %s (%lld elements) does not divide into %lld",
              nn_shape_str(x, s, 64), (long long)x->numel, (long long)known);
    sh[free_dim] = x->numel / known;
    known *= sh[free_dim];
  }
  NN_ASSERT(known == x->numel, "reshape: x %s has %lld elements, the target shape %lld",
            nn_shape_str(x, s, 64), (long long)x->numel, (long long)known);
  struct nn_tensor *out = alias(g, x, ndim, sh, 0);
  NN_NULL_IN(out);
  if (x->dtype == NN_F32) {
    struct alias_attr a = {0};
    nn_node_attr(g, nn_record(g, NN_OP_RESHAPE, offset_backward, out, 1, &x), &a, sizeof a);
  }
  return out;
}

/* ---- permute ---- */

/* Kernel geometry of out = x with dims reordered by perm: out's dims, without unit dims and merged
 * where x is contiguous across them, right-aligned into 4, with x's element strides. */
static void perm_geom(int nd, const int64_t *xshape, const int *perm, int64_t sh[4], int64_t xs[4]) {
  int64_t st[NN_MAX_DIM], s[NN_MAX_DIM], t[NN_MAX_DIM];
  int m = 0;
  int64_t acc = 1;
  for (int i = nd - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= xshape[i];
  }
  for (int k = 0; k < nd; k++) {
    int64_t size = xshape[perm[k]], stride = st[perm[k]];
    if (size == 1) continue;
    if (m > 0 && t[m - 1] == stride * size) {
      s[m - 1] *= size;
      t[m - 1] = stride;
    } else {
      s[m] = size;
      t[m++] = stride;
    }
  }
  for (int k = 3, j = m - 1; k >= 0; k--, j--) {
    sh[k] = j >= 0 ? s[j] : 1;
    xs[k] = j >= 0 ? t[j] : 0;
  }
}

static void permute_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_shape_args a = *(const struct nn_shape_args *)n->attr; /* the backward's geometry */
  a.out = n->in[0]->grad;
  a.x = n->out->grad;
  g->be->k->shape->permute(g->be, &a);
}

struct nn_tensor *nn_permute(struct nn_graph *g, struct nn_tensor *x, const int *perm) {
  NN_NULL_IN(x);
  char s[64];
  NN_ASSERT(x->dtype == NN_F32, "permute: x %s must be float32", nn_shape_str(x, s, 64));
  int seen = 0;
  int64_t shape[NN_MAX_DIM];
  for (int k = 0; k < x->ndim; k++) {
    NN_ASSERT(perm[k] >= 0 && perm[k] < x->ndim && !(seen >> perm[k] & 1),
              "permute: perm is not a permutation of the %d dims of x %s (entry %d is %d)", x->ndim,
              nn_shape_str(x, s, 64), k, perm[k]);
    seen |= 1 << perm[k];
    shape[k] = x->shape[perm[k]];
  }
  struct nn_tensor *out = nn_new(g, NN_F32, x->ndim, shape);
  NN_NULL_IN(out);
  struct nn_shape_args a = {.out = out->data, .x = x->data};
  perm_geom(x->ndim, x->shape, perm, a.shape, a.xstr);
  g->be->k->shape->permute(g->be, &a);
  struct nn_node *n = nn_record(g, NN_OP_PERMUTE, permute_backward, out, 1, &x);
  if (n) { /* the backward permutes dy back: x = out with dims reordered by the inverse of perm */
    int inv[NN_MAX_DIM];
    for (int k = 0; k < x->ndim; k++) inv[perm[k]] = k;
    struct nn_shape_args b = {.accumulate = 1};
    perm_geom(x->ndim, out->shape, inv, b.shape, b.xstr);
    nn_node_attr(g, n, &b, sizeof b);
  }
  return out;
}

struct nn_tensor *nn_transpose(struct nn_graph *g, struct nn_tensor *x, int d0, int d1) {
  NN_NULL_IN(x);
  int a = norm_dim("transpose", x, d0), b = norm_dim("transpose", x, d1), perm[NN_MAX_DIM];
  for (int k = 0; k < x->ndim; k++) perm[k] = k;
  perm[a] = b;
  perm[b] = a;
  return nn_permute(g, x, perm);
}

/* ---- narrow ---- */

static void narrow_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_shape_args a = *(const struct nn_shape_args *)n->attr; /* the backward's slab copy */
  a.dst = n->in[0]->grad;
  a.src = n->out->grad;
  g->be->k->shape->copy_slab(g->be, &a);
}

/* Words per element of dt for the 32-bit copy kernels. */
static int64_t words(enum nn_dtype dt) { return (int64_t)nn_dtype_size(dt) / 4; }

struct nn_tensor *nn_narrow(struct nn_graph *g, struct nn_tensor *x, int dim, int64_t start, int64_t len) {
  NN_NULL_IN(x);
  char s[64];
  int d = norm_dim("narrow", x, dim);
  NN_ASSERT(start >= 0 && len >= 0 && start + len <= x->shape[d],
            "narrow: [%lld, %lld) out of range along dim %d of x %s", (long long)start,
            (long long)(start + len), d, nn_shape_str(x, s, 64));
  int64_t outer, inner, shape[NN_MAX_DIM];
  outer_inner(x, d, &outer, &inner);
  for (int i = 0; i < x->ndim; i++) shape[i] = i == d ? len : x->shape[i];
  struct nn_tensor *out;
  struct nn_node *n;
  if (outer == 1) { /* a contiguous block of x: share it */
    out = alias(g, x, x->ndim, shape, start * inner);
    NN_NULL_IN(out);
    n = x->dtype == NN_F32 ? nn_record(g, NN_OP_NARROW, offset_backward, out, 1, &x) : NULL;
    struct alias_attr a = {start * inner};
    nn_node_attr(g, n, &a, sizeof a);
    return out;
  }
  out = nn_new(g, x->dtype, x->ndim, shape);
  NN_NULL_IN(out);
  struct nn_shape_args a = {.dst = out->data, .dn = len, .doff = 0, .src = x->data, .sn = x->shape[d],
                            .soff = start, .outer = outer, .len = len, .inner = inner * words(x->dtype)};
  g->be->k->shape->copy_slab(g->be, &a);
  n = x->dtype == NN_F32 ? nn_record(g, NN_OP_NARROW, narrow_backward, out, 1, &x) : NULL;
  /* backward: dx[:, start:start+len, :] += dy */
  struct nn_shape_args b = {.accumulate = 1, .dn = x->shape[d], .doff = start, .sn = len, .soff = 0,
                            .outer = outer, .len = len, .inner = inner};
  nn_node_attr(g, n, &b, sizeof b);
  return out;
}

/* ---- concat ---- */

/* Attributes of concat. */
struct concat_attr {
  int dim;
};

static void concat_backward(struct nn_graph *g, struct nn_node *n) {
  int d = ((const struct concat_attr *)n->attr)->dim;
  int64_t outer, inner, total = n->out->shape[d], off = 0;
  outer_inner(n->out, d, &outer, &inner);
  for (int k = 0; k < n->nin; k++) {
    struct nn_tensor *x = n->in[k];
    int64_t len = x->shape[d];
    if (x->requires_grad) {
      struct nn_shape_args a = {.accumulate = 1, .dst = x->grad, .dn = len, .doff = 0, .src = n->out->grad,
                                .sn = total, .soff = off, .outer = outer, .len = len, .inner = inner};
      g->be->k->shape->copy_slab(g->be, &a);
    }
    off += len;
  }
}

struct nn_tensor *nn_concat(struct nn_graph *g, int n, struct nn_tensor **xs, int dim) {
  char s1[64], s2[64];
  NN_ASSERT(n >= 1 && n <= NN_MAX_IN, "concat: %d inputs (1 to %d)", n, NN_MAX_IN);
  for (int k = 0; k < n; k++) NN_NULL_IN(xs[k]);
  struct nn_tensor *x0 = xs[0];
  int d = norm_dim("concat", x0, dim);
  int64_t shape[NN_MAX_DIM], outer, inner, total = 0;
  for (int k = 0; k < n; k++) {
    int same = xs[k]->ndim == x0->ndim && xs[k]->dtype == x0->dtype;
    for (int i = 0; same && i < x0->ndim; i++) same = i == d || xs[k]->shape[i] == x0->shape[i];
    NN_ASSERT(same, "concat: input %d %s does not match input 0 %s outside dim %d (or its dtype differs)", k,
              nn_shape_str(xs[k], s1, 64), nn_shape_str(x0, s2, 64), d);
    total += xs[k]->shape[d];
  }
  for (int i = 0; i < x0->ndim; i++) shape[i] = i == d ? total : x0->shape[i];
  struct nn_tensor *out = nn_new(g, x0->dtype, x0->ndim, shape);
  NN_NULL_IN(out);
  outer_inner(x0, d, &outer, &inner);
  int64_t off = 0;
  for (int k = 0; k < n; k++) {
    int64_t len = xs[k]->shape[d];
    struct nn_shape_args a = {.dst = out->data, .dn = total, .doff = off, .src = xs[k]->data, .sn = len, .soff = 0,
                              .outer = outer, .len = len, .inner = inner * words(x0->dtype)};
    g->be->k->shape->copy_slab(g->be, &a);
    off += len;
  }
  struct nn_node *nd = x0->dtype == NN_F32 ? nn_record(g, NN_OP_CONCAT, concat_backward, out, n, xs) : NULL;
  struct concat_attr a = {d};
  nn_node_attr(g, nd, &a, sizeof a);
  return out;
}
