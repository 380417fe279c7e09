/* binary ops: forward, backward and shape checks, calling kernels through g->be->k->binary. */
#include "binary.h"
#include "../nn_backend.h"

/* Broadcast geometry of b onto a: a's non-unit dims, merged where b's broadcast pattern allows,
 * right-aligned into 4 dims; b's element stride along each (0 where b broadcasts). */
struct bin_geom {
  int64_t shape[4], bstr[4];
};

static struct bin_geom bin_geom(enum nn_op op, const struct nn_tensor *a, const struct nn_tensor *b) {
  char s1[64], s2[64];
  NN_ASSERT(a->dtype == NN_F32 && b->dtype == NN_F32, "%s: operands must be float32 (a %s, b %s)",
            nn_op_name(op), nn_shape_str(a, s1, 64), nn_shape_str(b, s2, 64));
  NN_ASSERT(b->ndim <= a->ndim, "%s: b %s has more dims than a %s", nn_op_name(op),
            nn_shape_str(b, s2, 64), nn_shape_str(a, s1, 64));
  int64_t size[NN_MAX_DIM];
  int varies[NN_MAX_DIM], m = 0, off = a->ndim - b->ndim;
  for (int i = 0; i < a->ndim; i++) {
    int64_t ad = a->shape[i], bd = i >= off ? b->shape[i - off] : 1;
    NN_ASSERT(bd == ad || bd == 1, "%s: b %s does not broadcast onto a %s (dim %d)", nn_op_name(op),
              nn_shape_str(b, s2, 64), nn_shape_str(a, s1, 64), i);
    if (ad == 1) continue;
    int v = bd != 1;
    if (m > 0 && varies[m - 1] == v) {
      size[m - 1] *= ad;
    } else {
      size[m] = ad;
      varies[m++] = v;
    }
  }
  struct bin_geom gm;
  int64_t stride = 1;
  for (int k = 3, j = m - 1; k >= 0; k--, j--) {
    gm.shape[k] = j >= 0 ? size[j] : 1;
    gm.bstr[k] = j >= 0 && varies[j] ? stride : 0;
    if (j >= 0 && varies[j]) stride *= size[j];
  }
  return gm;
}

static void binary_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_tensor *a = n->in[0], *b = n->in[1];
  const struct nn_binary_args *f = n->attr;
  const float *dy = n->out->grad;
  if (a->requires_grad) {
    if (f->op == NN_BIN_MUL) { /* da += dy * b */
      struct nn_binary_args k = *f;
      k.out = a->grad;
      k.a = dy;
      k.accumulate = 1;
      g->be->k->binary->apply(g->be, &k);
    } else {
      nn_be_axpy(g->be, a->grad, 1.0f, dy, a->numel);
    }
  }
  if (b->requires_grad) { /* db += (+-dy or dy * a) summed over the broadcast dims */
    struct nn_binary_args k = *f;
    k.db = b->grad;
    k.dy = dy;
    k.a = f->op == NN_BIN_MUL ? a->data : NULL;
    k.alpha = f->op == NN_BIN_SUB ? -1.0f : 1.0f;
    g->be->k->binary->reduce(g->be, &k);
  }
}

/* out(a's shape) = a op b, b broadcast onto a. */
static struct nn_tensor *binary(struct nn_graph *g, enum nn_op code, enum nn_bin_op op, struct nn_tensor *a,
                                struct nn_tensor *b) {
  NN_NULL_IN(a, b);
  struct bin_geom gm = bin_geom(code, a, b);
  struct nn_tensor *out = nn_new_like(g, a);
  NN_NULL_IN(out);
  struct nn_binary_args k = {.op = op, .out = out->data, .a = a->data, .b = b->data};
  for (int i = 0; i < 4; i++) {
    k.shape[i] = gm.shape[i];
    k.bstr[i] = gm.bstr[i];
  }
  g->be->k->binary->apply(g->be, &k);
  nn_node_attr(g, nn_record(g, code, binary_backward, out, 2, (struct nn_tensor *[]){a, b}), &k, sizeof k);
  return out;
}

struct nn_tensor *nn_add(struct nn_graph *g, struct nn_tensor *a, struct nn_tensor *b) {
  return binary(g, NN_OP_ADD, NN_BIN_ADD, a, b);
}

struct nn_tensor *nn_sub(struct nn_graph *g, struct nn_tensor *a, struct nn_tensor *b) {
  return binary(g, NN_OP_SUB, NN_BIN_SUB, a, b);
}

struct nn_tensor *nn_mul(struct nn_graph *g, struct nn_tensor *a, struct nn_tensor *b) {
  return binary(g, NN_OP_MUL, NN_BIN_MUL, a, b);
}

static void scale_backward(struct nn_graph *g, struct nn_node *n) {
  const struct nn_binary_args *k = n->attr;
  nn_be_axpy(g->be, n->in[0]->grad, k->s, n->out->grad, n->in[0]->numel);
}

struct nn_tensor *nn_scale(struct nn_graph *g, struct nn_tensor *a, float s) {
  NN_NULL_IN(a);
  char s1[64];
  NN_ASSERT(a->dtype == NN_F32, "scale: a %s must be float32", nn_shape_str(a, s1, 64));
  struct nn_tensor *out = nn_new_like(g, a);
  NN_NULL_IN(out);
  struct nn_binary_args k = {.s = s, .n = a->numel, .out = out->data, .a = a->data};
  g->be->k->binary->scale(g->be, &k);
  nn_node_attr(g, nn_record(g, NN_OP_SCALE, scale_backward, out, 1, &a), &k, sizeof k);
  return out;
}
