/* rnn_seq ops: forward, backward and shape checks, calling kernels through g->be->k->rnn_seq. */
#include "rnn_seq.h"
#include "../nn_backend.h"

static void lstm_seq_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_tensor *xg = n->in[0], *h0 = n->in[1], *c0 = n->in[2], *w_hh = n->in[3], *b = n->in[4];
  struct nn_rnn_seq_args a = *(const struct nn_rnn_seq_args *)n->attr;
  a.dout = n->out->grad;
  a.dxg = xg->requires_grad ? xg->grad : NULL;
  a.dh0 = h0 && h0->requires_grad ? h0->grad : NULL;
  a.dc0 = c0 && c0->requires_grad ? c0->grad : NULL;
  a.dw_hh = w_hh->requires_grad ? w_hh->grad : NULL;
  a.db = b && b->requires_grad ? b->grad : NULL;
  a.work = nn_scratch(g, sizeof(float) * (size_t)(a.B * 6 * a.H));
  if (!a.work) return;
  g->be->k->rnn_seq->lstm_bwd(g->be, &a);
}

struct nn_tensor *nn_lstm_seq(struct nn_graph *g, struct nn_tensor *xg, struct nn_tensor *h0, struct nn_tensor *c0,
                              struct nn_tensor *w_hh, struct nn_tensor *b_hh, int reverse) {
  NN_NULL_IN(xg, w_hh);
  char s1[64], s2[64];
  NN_CHECK_NDIM("lstm_seq", xg, 3);
  NN_CHECK_NDIM("lstm_seq", w_hh, 2);
  int64_t B = xg->shape[0], T = xg->shape[1], H = w_hh->shape[1];
  NN_ASSERT(w_hh->shape[0] == 4 * H && xg->shape[2] == 4 * H && T >= 1,
            "lstm_seq: xg %s, w_hh %s; expected xg(B,T,4H) with T >= 1, w_hh(4H,H)", nn_shape_str(xg, s1, 64),
            nn_shape_str(w_hh, s2, 64));
  NN_ASSERT(!b_hh || (b_hh->ndim == 1 && b_hh->shape[0] == 4 * H), "lstm_seq: b_hh %s, expected (%lld)",
            b_hh ? nn_shape_str(b_hh, s1, 64) : "", (long long)(4 * H));
  struct nn_tensor *st[2] = {h0, c0};
  for (int i = 0; i < 2; i++)
    NN_ASSERT(!st[i] || (st[i]->ndim == 2 && st[i]->shape[0] == B && st[i]->shape[1] == H),
              "lstm_seq: %s %s, expected (%lld,%lld)", i ? "c0" : "h0", st[i] ? nn_shape_str(st[i], s1, 64) : "",
              (long long)B, (long long)H);
  struct nn_tensor *out = nn_new(g, NN_F32, 4, NN_SHAPE(2, B, T, H));
  struct nn_tensor *act = nn_new(g, NN_F32, 3, NN_SHAPE(B, T, 4 * H));
  NN_NULL_IN(out, act);
  struct nn_rnn_seq_args a = {.B = B, .T = T, .H = H, .reverse = reverse != 0, .xg = xg->data,
                              .h0 = h0 ? h0->data : NULL, .c0 = c0 ? c0->data : NULL, .w_hh = w_hh->data,
                              .b = b_hh ? b_hh->data : NULL, .out = out->data, .act = act->data};
  g->be->k->rnn_seq->lstm_fwd(g->be, &a);
  struct nn_node *n = nn_record(g, NN_OP_LSTM_SEQ, lstm_seq_backward, out, 5,
                                (struct nn_tensor *[]){xg, h0, c0, w_hh, b_hh});
  if (n) n->saved[0] = act;
  nn_node_attr(g, n, &a, sizeof a);
  return out;
}
