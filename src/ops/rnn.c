/* rnn ops: forward, backward and shape checks, calling kernels through g->be->k->rnn. */
#include "rnn.h"
#include "../nn_backend.h"

/* Check x(B,I), h(B,H), w_ih(G*H,I), w_hh(G*H,H) and optional biases (G*H) of a cell with G gates;
 * returns H. */
static int64_t rnn_check(const char *op, const struct nn_tensor *x, const struct nn_tensor *h,
                         const struct nn_tensor *w_ih, const struct nn_tensor *w_hh,
                         const struct nn_tensor *b_ih, const struct nn_tensor *b_hh, int64_t G) {
  char s1[64], s2[64], s3[64], s4[64];
  NN_CHECK_NDIM(op, x, 2);
  NN_CHECK_NDIM(op, h, 2);
  NN_CHECK_NDIM(op, w_ih, 2);
  NN_CHECK_NDIM(op, w_hh, 2);
  int64_t B = x->shape[0], I = x->shape[1], H = h->shape[1];
  NN_ASSERT(h->shape[0] == B && w_ih->shape[0] == G * H && w_ih->shape[1] == I &&
                w_hh->shape[0] == G * H && w_hh->shape[1] == H,
            "%s: x %s, h %s, w_ih %s, w_hh %s; expected x(B,I), h(B,H), w_ih(%lldH,I), w_hh(%lldH,H)", op,
            nn_shape_str(x, s1, 64), nn_shape_str(h, s2, 64), nn_shape_str(w_ih, s3, 64),
            nn_shape_str(w_hh, s4, 64), (long long)G, (long long)G);
  NN_ASSERT(!b_ih || (b_ih->ndim == 1 && b_ih->shape[0] == G * H), "%s: b_ih %s, expected (%lld)", op,
            b_ih ? nn_shape_str(b_ih, s1, 64) : "", (long long)(G * H));
  NN_ASSERT(!b_hh || (b_hh->ndim == 1 && b_hh->shape[0] == G * H), "%s: b_hh %s, expected (%lld)", op,
            b_hh ? nn_shape_str(b_hh, s1, 64) : "", (long long)(G * H));
  return H;
}

/* Backward of the two products gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh (N = G*H columns)
 * from their gradients dgi(B,N) and dgh(B,N): accumulates into x, h, w_ih, w_hh, b_ih, b_hh. */
static void rnn_products_backward(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *h,
                                  struct nn_tensor *w_ih, struct nn_tensor *w_hh, struct nn_tensor *b_ih,
                                  struct nn_tensor *b_hh, const float *dgi, const float *dgh) {
  int64_t B = x->shape[0], I = x->shape[1], H = h->shape[1], N = w_ih->shape[0];
  if (x->requires_grad) /* dx(B,I) += dgi(B,N) @ w_ih(N,I) */
    nn_be_gemm(g->be, x->grad, dgi, w_ih->data, 0, 0, B, I, N, 1.0f, 1.0f, 1, 0, 0, 0);
  if (h->requires_grad) /* dh(B,H) += dgh(B,N) @ w_hh(N,H) */
    nn_be_gemm(g->be, h->grad, dgh, w_hh->data, 0, 0, B, H, N, 1.0f, 1.0f, 1, 0, 0, 0);
  if (w_ih->requires_grad) /* dw_ih(N,I) += dgi^T(N,B) @ x(B,I) */
    nn_be_gemm(g->be, w_ih->grad, dgi, x->data, 1, 0, N, I, B, 1.0f, 1.0f, 1, 0, 0, 0);
  if (w_hh->requires_grad) /* dw_hh(N,H) += dgh^T(N,B) @ h(B,H) */
    nn_be_gemm(g->be, w_hh->grad, dgh, h->data, 1, 0, N, H, B, 1.0f, 1.0f, 1, 0, 0, 0);
  if (b_ih && b_ih->requires_grad) {
    struct nn_rnn_args a = {.rows = B, .cols = N, .dy = dgi, .db = b_ih->grad};
    g->be->k->rnn->bias_grad(g->be, &a);
  }
  if (b_hh && b_hh->requires_grad) {
    struct nn_rnn_args a = {.rows = B, .cols = N, .dy = dgh, .db = b_hh->grad};
    g->be->k->rnn->bias_grad(g->be, &a);
  }
}

static void lstm_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_tensor *x = n->in[0], *h = n->in[1], *c = n->in[2];
  struct nn_rnn_args a = *(const struct nn_rnn_args *)n->attr;
  a.dgates = nn_scratch(g, sizeof(float) * (size_t)(a.B * 4 * a.H));
  if (!a.dgates) return;
  a.dc = c->requires_grad ? c->grad : NULL;
  a.dout = n->out->grad;
  g->be->k->rnn->lstm_bwd(g->be, &a);
  rnn_products_backward(g, x, h, n->in[3], n->in[4], n->in[5], n->in[6], a.dgates, a.dgates);
}

struct nn_tensor *nn_lstm_cell(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *h,
                               struct nn_tensor *c, struct nn_tensor *w_ih, struct nn_tensor *w_hh,
                               struct nn_tensor *b_ih, struct nn_tensor *b_hh) {
  NN_NULL_IN(x, h, c, w_ih, w_hh);
  int64_t H = rnn_check("lstm_cell", x, h, w_ih, w_hh, b_ih, b_hh, 4), B = x->shape[0], I = x->shape[1];
  char s1[64], s2[64];
  NN_ASSERT(nn_same_shape(c, h), "lstm_cell: c %s must have the shape of h %s", nn_shape_str(c, s1, 64),
            nn_shape_str(h, s2, 64));
  struct nn_tensor *out = nn_new(g, NN_F32, 3, NN_SHAPE(2, B, H));
  struct nn_tensor *act = nn_new(g, NN_F32, 2, NN_SHAPE(B, 4 * H));
  NN_NULL_IN(out, act);
  /* act(B,4H) = x W_ih^T + h W_hh^T, then the gates and the new state */
  nn_be_gemm(g->be, act->data, x->data, w_ih->data, 0, 1, B, 4 * H, I, 1.0f, 0.0f, 1, 0, 0, 0);
  nn_be_gemm(g->be, act->data, h->data, w_hh->data, 0, 1, B, 4 * H, H, 1.0f, 1.0f, 1, 0, 0, 0);
  struct nn_rnn_args a = {.B = B, .H = H, .b_ih = b_ih ? b_ih->data : NULL, .b_hh = b_hh ? b_hh->data : NULL,
                          .act = act->data, .c = c->data, .out = out->data};
  g->be->k->rnn->lstm_fwd(g->be, &a);
  struct nn_node *n = nn_record(g, NN_OP_LSTM_CELL, lstm_backward, out, 7,
                                (struct nn_tensor *[]){x, h, c, w_ih, w_hh, b_ih, b_hh});
  if (n) n->saved[0] = act;
  nn_node_attr(g, n, &a, sizeof a);
  return out;
}

static void gru_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_tensor *x = n->in[0], *h = n->in[1];
  struct nn_rnn_args a = *(const struct nn_rnn_args *)n->attr;
  a.dgi = nn_scratch(g, sizeof(float) * (size_t)(a.B * 6 * a.H));
  if (!a.dgi) return;
  a.dgh = a.dgi + a.B * 3 * a.H;
  a.dh = h->requires_grad ? h->grad : NULL;
  a.dhn = n->out->grad;
  g->be->k->rnn->gru_bwd(g->be, &a);
  rnn_products_backward(g, x, h, n->in[2], n->in[3], n->in[4], n->in[5], a.dgi, a.dgh);
}

struct nn_tensor *nn_gru_cell(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *h,
                              struct nn_tensor *w_ih, struct nn_tensor *w_hh,
                              struct nn_tensor *b_ih, struct nn_tensor *b_hh) {
  NN_NULL_IN(x, h, w_ih, w_hh);
  int64_t H = rnn_check("gru_cell", x, h, w_ih, w_hh, b_ih, b_hh, 3), B = x->shape[0], I = x->shape[1];
  struct nn_tensor *hn = nn_new(g, NN_F32, 2, NN_SHAPE(B, H));
  struct nn_tensor *save = nn_new(g, NN_F32, 2, NN_SHAPE(B, 4 * H));
  float *gi = nn_scratch(g, sizeof(float) * (size_t)(B * 6 * H));
  NN_NULL_IN(hn, save, gi);
  float *gh = gi + B * 3 * H;
  nn_be_gemm(g->be, gi, x->data, w_ih->data, 0, 1, B, 3 * H, I, 1.0f, 0.0f, 1, 0, 0, 0); /* gi(B,3H) = x W_ih^T */
  nn_be_gemm(g->be, gh, h->data, w_hh->data, 0, 1, B, 3 * H, H, 1.0f, 0.0f, 1, 0, 0, 0); /* gh(B,3H) = h W_hh^T */
  struct nn_rnn_args a = {.B = B, .H = H, .b_ih = b_ih ? b_ih->data : NULL, .b_hh = b_hh ? b_hh->data : NULL,
                          .gi = gi, .gh = gh, .h = h->data, .hn = hn->data, .save = save->data};
  g->be->k->rnn->gru_fwd(g->be, &a);
  struct nn_node *n = nn_record(g, NN_OP_GRU_CELL, gru_backward, hn, 6,
                                (struct nn_tensor *[]){x, h, w_ih, w_hh, b_ih, b_hh});
  if (n) n->saved[0] = save;
  a.gi = a.gh = NULL; /* scratch of this call; the backward does not read them */
  nn_node_attr(g, n, &a, sizeof a);
  return hn;
}
