/* matmul ops: forward, backward and shape checks, calling kernels through g->be. */
#include "matmul.h"
#include "../nn_backend.h"

/* Matrix geometry of a matmul: batch count, M, N, K and element strides. */
struct mm_dims {
  int64_t batch, m, n, k, sa, sb, sc;
};

static struct mm_dims mm_dims(const struct nn_tensor *a, const struct nn_tensor *b, int ta, int tb) {
  char s1[64], s2[64];
  NN_ASSERT(a->ndim >= 2 && b->ndim >= 2, "matmul: operands must have >= 2 dims, got %s and %s",
            nn_shape_str(a, s1, 64), nn_shape_str(b, s2, 64));
  struct mm_dims d;
  int64_t ar = a->shape[a->ndim - 2], ac = a->shape[a->ndim - 1];
  int64_t br = b->shape[b->ndim - 2], bc = b->shape[b->ndim - 1];
  d.m = ta ? ac : ar;
  d.k = ta ? ar : ac;
  d.n = tb ? br : bc;
  int64_t kb = tb ? bc : br;
  NN_ASSERT(d.k == kb, "matmul: inner sizes differ: %s%s @ %s%s", nn_shape_str(a, s1, 64), ta ? "^T" : "",
            nn_shape_str(b, s2, 64), tb ? "^T" : "");
  d.batch = a->numel / (ar * ac);
  d.sa = ar * ac;
  d.sc = d.m * d.n;
  if (b->ndim == 2) {
    d.sb = 0;
  } else {
    NN_ASSERT(b->numel / (br * bc) == d.batch && a->ndim == b->ndim,
              "matmul: batch dims differ: %s @ %s", nn_shape_str(a, s1, 64), nn_shape_str(b, s2, 64));
    for (int i = 0; i < a->ndim - 2; i++)
      NN_ASSERT(a->shape[i] == b->shape[i], "matmul: batch dims differ: %s @ %s",
                nn_shape_str(a, s1, 64), nn_shape_str(b, s2, 64));
    d.sb = br * bc;
  }
  return d;
}

static void matmul_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_tensor *a = n->in[0], *b = n->in[1];
  const struct nn_gemm_args *f = n->attr; /* the forward's product: its transposes */
  int ta = f->ta, tb = f->tb;
  struct mm_dims d = mm_dims(a, b, ta, tb);
  const float *dc = n->out->grad;
  if (a->requires_grad) {
    /* dA = dC op(B)^T, or (for ta) dA = op(B) dC^T */
    if (!ta)
      nn_be_gemm(g->be, a->grad, dc, b->data, 0, !tb, d.m, d.k, d.n, 1.0f, 1.0f, d.batch, d.sc, d.sb, d.sa);
    else
      nn_be_gemm(g->be, a->grad, b->data, dc, tb, 1, d.k, d.m, d.n, 1.0f, 1.0f, d.batch, d.sb, d.sc, d.sa);
  }
  if (b->requires_grad) {
    if (d.sb == 0) {
      /* shared 2-D b: sum over the batch by treating (batch*M) as one matrix when a is not transposed */
      for (int64_t i = 0; i < d.batch; i++) {
        if (!tb)
          nn_be_gemm(g->be, b->grad, a->data + i * d.sa, dc + i * d.sc, !ta, 0, d.k, d.n, d.m, 1.0f, 1.0f, 1, 0, 0, 0);
        else
          nn_be_gemm(g->be, b->grad, dc + i * d.sc, a->data + i * d.sa, 1, ta, d.n, d.k, d.m, 1.0f, 1.0f, 1, 0, 0, 0);
      }
    } else if (!tb) {
      nn_be_gemm(g->be, b->grad, a->data, dc, !ta, 0, d.k, d.n, d.m, 1.0f, 1.0f, d.batch, d.sa, d.sc, d.sb);
    } else {
      nn_be_gemm(g->be, b->grad, dc, a->data, 1, ta, d.n, d.k, d.m, 1.0f, 1.0f, d.batch, d.sc, d.sa, d.sb);
    }
  }
}

struct nn_tensor *nn_matmul(struct nn_graph *g, struct nn_tensor *a, struct nn_tensor *b, int ta, int tb) {
  NN_NULL_IN(a, b);
  struct mm_dims d = mm_dims(a, b, ta, tb);
  int64_t shape[NN_MAX_DIM];
  for (int i = 0; i < a->ndim - 2; i++) shape[i] = a->shape[i];
  shape[a->ndim - 2] = d.m;
  shape[a->ndim - 1] = d.n;
  struct nn_tensor *c = nn_new(g, NN_F32, a->ndim, shape);
  NN_NULL_IN(c);
  struct nn_gemm_args k = {c->data, a->data, b->data, ta, tb, d.m, d.n, d.k, 1.0f, 0.0f, d.batch, d.sa, d.sb, d.sc};
  if (d.sb == 0 && !ta) { /* one big product: (batch*M, K) @ op(B) */
    struct nn_gemm_args k1 = {c->data, a->data, b->data, 0, tb, d.batch * d.m, d.n, d.k, 1.0f, 0.0f, 1, 0, 0, 0};
    g->be->k->gemm(g->be, &k1);
  } else {
    g->be->k->gemm(g->be, &k);
  }
  nn_node_attr(g, nn_record(g, NN_OP_MATMUL, matmul_backward, c, 2, (struct nn_tensor *[]){a, b}), &k, sizeof k);
  return c;
}

static void linear_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_tensor *x = n->in[0], *w = n->in[1], *bias = n->in[2];
  int64_t in = w->shape[1], out = w->shape[0], rows = x->numel / in;
  const float *dy = n->out->grad;
  if (x->requires_grad) /* dx(rows,in) += dy(rows,out) @ w(out,in) */
    nn_be_gemm(g->be, x->grad, dy, w->data, 0, 0, rows, in, out, 1.0f, 1.0f, 1, 0, 0, 0);
  if (w->requires_grad) /* dw(out,in) += dy^T(out,rows) @ x(rows,in) */
    nn_be_gemm(g->be, w->grad, dy, x->data, 1, 0, out, in, rows, 1.0f, 1.0f, 1, 0, 0, 0);
  if (bias && bias->requires_grad) {
    struct nn_bias_args k = {.rows = rows, .cols = out, .dy = dy, .db = bias->grad};
    g->be->k->matmul->bias_grad(g->be, &k);
  }
}

struct nn_tensor *nn_linear(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *w, struct nn_tensor *bias) {
  NN_NULL_IN(x, w);
  char s1[64], s2[64];
  NN_CHECK_NDIM("linear", w, 2);
  int64_t in = w->shape[1], out = w->shape[0];
  NN_ASSERT(nn_last_dim(x) == in, "linear: input %s does not match weight %s (out,in)",
            nn_shape_str(x, s1, 64), nn_shape_str(w, s2, 64));
  NN_ASSERT(!bias || (bias->ndim == 1 && bias->shape[0] == out), "linear: bias %s, expected (%lld)",
            bias ? nn_shape_str(bias, s1, 64) : "", (long long)out);
  int64_t shape[NN_MAX_DIM];
  for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
  shape[x->ndim - 1] = out;
  struct nn_tensor *y = nn_new(g, NN_F32, x->ndim, shape);
  NN_NULL_IN(y);
  int64_t rows = x->numel / in;
  /* with a bias, y starts as the bias rows and the product accumulates onto them (no zeroing pass) */
  if (bias) {
    struct nn_bias_args k = {.rows = rows, .cols = out, .b = bias->data, .y = y->data};
    g->be->k->matmul->set_bias(g->be, &k);
  }
  nn_be_gemm(g->be, y->data, x->data, w->data, 0, 1, rows, out, in, 1.0f, bias ? 1.0f : 0.0f, 1, 0, 0, 0);
  nn_record(g, NN_OP_LINEAR, linear_backward, y, 3, (struct nn_tensor *[]){x, w, bias});
  return y;
}
