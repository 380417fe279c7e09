/* Gradient-check cases of the rnn ops. */
#include "gradcheck.h"

#define S NN_SHAPE
/* Inputs of a cell with G gates: x(B,I), h(B,H), [c(B,H) when lstm], w_ih(G*H,I), w_hh(G*H,H), biases. */
struct cell_in {
  struct nn_tensor *x, *h, *c, *w_ih, *w_hh, *b_ih, *b_hh;
};

/* state_grad 0: h and c are constants; bias bit 1: b_ih, bit 2: b_hh. */
static struct cell_in cell_inputs(struct nn_graph *g, struct gc_ctx *c, int lstm, int64_t B, int64_t I,
                                  int64_t H, int bias, int state_grad) {
  int64_t G = lstm ? 4 : 3;
  struct cell_in r = {0};
  r.x = gc_input(c, g, 2, S(B, I), 1);
  r.h = state_grad ? gc_input(c, g, 2, S(B, H), 1) : gc_const(c, g, 2, S(B, H), 1);
  if (lstm) r.c = state_grad ? gc_input(c, g, 2, S(B, H), 1) : gc_const(c, g, 2, S(B, H), 1);
  r.w_ih = gc_input(c, g, 2, S(G * H, I), 0.5f);
  r.w_hh = gc_input(c, g, 2, S(G * H, H), 0.5f);
  if (bias & 1) r.b_ih = gc_input(c, g, 1, S(G * H), 0.5f);
  if (bias & 2) r.b_hh = gc_input(c, g, 1, S(G * H), 0.5f);
  return r;
}

static struct nn_tensor *lstm(struct nn_graph *g, struct gc_ctx *c, int64_t B, int64_t I, int64_t H,
                              int bias, int state_grad) {
  struct cell_in r = cell_inputs(g, c, 1, B, I, H, bias, state_grad);
  return nn_lstm_cell(g, r.x, r.h, r.c, r.w_ih, r.w_hh, r.b_ih, r.b_hh);
}
static struct nn_tensor *gru(struct nn_graph *g, struct gc_ctx *c, int64_t B, int64_t I, int64_t H,
                             int bias, int state_grad) {
  struct cell_in r = cell_inputs(g, c, 0, B, I, H, bias, state_grad);
  return nn_gru_cell(g, r.x, r.h, r.w_ih, r.w_hh, r.b_ih, r.b_hh);
}

static struct nn_tensor *lstm_bias(struct nn_graph *g, struct gc_ctx *c) { return lstm(g, c, 3, 5, 7, 3, 1); }
static struct nn_tensor *lstm_nobias(struct nn_graph *g, struct gc_ctx *c) { return lstm(g, c, 2, 3, 5, 0, 1); }
static struct nn_tensor *lstm_ih_bias(struct nn_graph *g, struct gc_ctx *c) { return lstm(g, c, 1, 4, 3, 1, 1); }
static struct nn_tensor *lstm_const_state(struct nn_graph *g, struct gc_ctx *c) { return lstm(g, c, 3, 2, 5, 2, 0); }
static struct nn_tensor *gru_bias(struct nn_graph *g, struct gc_ctx *c) { return gru(g, c, 3, 5, 7, 3, 1); }
static struct nn_tensor *gru_nobias(struct nn_graph *g, struct gc_ctx *c) { return gru(g, c, 2, 3, 5, 0, 1); }
static struct nn_tensor *gru_hh_bias(struct nn_graph *g, struct gc_ctx *c) { return gru(g, c, 1, 4, 3, 2, 1); }
static struct nn_tensor *gru_const_state(struct nn_graph *g, struct gc_ctx *c) { return gru(g, c, 3, 2, 5, 1, 0); }

const struct gc_case gc_rnn[] = {
    {"lstm_cell_bias", NN_OP_LSTM_CELL, lstm_bias},
    {"lstm_cell_nobias", NN_OP_LSTM_CELL, lstm_nobias},
    {"lstm_cell_ih_bias_only", NN_OP_LSTM_CELL, lstm_ih_bias},
    {"lstm_cell_const_state", NN_OP_LSTM_CELL, lstm_const_state},
    {"gru_cell_bias", NN_OP_GRU_CELL, gru_bias},
    {"gru_cell_nobias", NN_OP_GRU_CELL, gru_nobias},
    {"gru_cell_hh_bias_only", NN_OP_GRU_CELL, gru_hh_bias},
    {"gru_cell_const_state", NN_OP_GRU_CELL, gru_const_state},
    {0},
};
