/* Gradient-check cases of the rnn_seq op (nn_lstm_seq: a whole LSTM direction over a sequence). */
#include "gradcheck.h"

#define S NN_SHAPE

/* xg(B,T,4H), optional h0/c0 (B,H) (state: 0 none, 1 with gradient, 2 constant), w_hh(4H,H), optional b_hh */
static struct nn_tensor *seq(struct nn_graph *g, struct gc_ctx *c, int64_t B, int64_t T, int64_t H, int state,
                             int bias, int reverse) {
  struct nn_tensor *xg = gc_input(c, g, 3, S(B, T, 4 * H), 1);
  struct nn_tensor *h0 = NULL, *c0 = NULL;
  if (state == 1) {
    h0 = gc_input(c, g, 2, S(B, H), 1);
    c0 = gc_input(c, g, 2, S(B, H), 1);
  } else if (state == 2) {
    h0 = gc_const(c, g, 2, S(B, H), 1);
    c0 = gc_const(c, g, 2, S(B, H), 1);
  }
  struct nn_tensor *w_hh = gc_input(c, g, 2, S(4 * H, H), 0.5f);
  struct nn_tensor *b = bias ? gc_input(c, g, 1, S(4 * H), 0.5f) : NULL;
  return nn_lstm_seq(g, xg, h0, c0, w_hh, b, reverse);
}

static struct nn_tensor *fwd_state(struct nn_graph *g, struct gc_ctx *c) { return seq(g, c, 3, 4, 5, 1, 1, 0); }
static struct nn_tensor *rev_state(struct nn_graph *g, struct gc_ctx *c) { return seq(g, c, 3, 4, 5, 1, 1, 1); }
static struct nn_tensor *fwd_zero(struct nn_graph *g, struct gc_ctx *c) { return seq(g, c, 2, 5, 3, 0, 0, 0); }
static struct nn_tensor *rev_const(struct nn_graph *g, struct gc_ctx *c) { return seq(g, c, 2, 3, 4, 2, 1, 1); }
static struct nn_tensor *one_step(struct nn_graph *g, struct gc_ctx *c) { return seq(g, c, 4, 1, 3, 1, 1, 0); }
/* a batch large enough for the kernel to split it over threads (when the run has several) */
static struct nn_tensor *threads(struct nn_graph *g, struct gc_ctx *c) { return seq(g, c, 24, 3, 16, 1, 1, 1); }

const struct gc_case gc_rnn_seq[] = {
    {"lstm_seq_state", NN_OP_LSTM_SEQ, fwd_state},
    {"lstm_seq_reverse_state", NN_OP_LSTM_SEQ, rev_state},
    {"lstm_seq_zero_state_nobias", NN_OP_LSTM_SEQ, fwd_zero},
    {"lstm_seq_reverse_const_state", NN_OP_LSTM_SEQ, rev_const},
    {"lstm_seq_one_step", NN_OP_LSTM_SEQ, one_step},
    {"lstm_seq_split_batch", NN_OP_LSTM_SEQ, threads},
    {0},
};
