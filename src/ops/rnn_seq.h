/* rnn_seq ops: a whole LSTM direction over a sequence as one op (torch.nn.LSTM's recurrence,
 * gate order i,f,g,o). The input projections of all time steps are one GEMM done by the caller
 * (nn_linear over (B,T,in)); this op runs only the recurrence: per step one (B,H)x(H,4H) product
 * and the fused gate non-linearities, batch-major throughout (no transposes). */
#ifndef NN_OPS_RNN_SEQ_H
#define NN_OPS_RNN_SEQ_H
#include "../nn_graph.h"

struct nn_backend;

/* Arguments of the sequence kernels (forward and backward share the struct). Step s = 0..T-1
 * visits time t = s (forward) or T-1-s (reverse); its previous state is that of the step before,
 * or h0/c0 at s = 0. */
struct nn_rnn_seq_args {
  int64_t B, T, H;
  int reverse;
  const float *xg;           /* (B,T,4H) input projections x_t W_ih^T (+ b_ih) */
  const float *h0, *c0;      /* (B,H) initial state, NULL = zeros */
  const float *w_hh;         /* (4H,H) */
  const float *b;            /* (4H) added to every step (b_hh), may be NULL */
  float *out;                /* (2,B,T,H): out[0][b][t] = h_t, out[1][b][t] = c_t */
  float *act;                /* (B,T,4H): gate activations i,f,g,o (saved for the backward) */
  /* backward: gradients accumulate (+=) into the non-NULL ones */
  const float *dout;         /* (2,B,T,H) */
  float *dxg;                /* (B,T,4H) */
  float *dh0, *dc0;          /* (B,H) */
  float *dw_hh;              /* (4H,H) */
  float *db;                 /* (4H) */
  float *work;               /* backward scratch: (B,6H) */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_rnn_seq, ...). */
struct nn_k_rnn_seq {
  /* out, act from xg, h0, c0, w_hh, b */
  void (*lstm_fwd)(const struct nn_backend *be, const struct nn_rnn_seq_args *a);
  /* dxg, dh0, dc0, dw_hh, db += from dout, act, out, xg's shapes, h0, c0, w_hh */
  void (*lstm_bwd)(const struct nn_backend *be, const struct nn_rnn_seq_args *a);
};

/* out(2,B,T,H) = an LSTM direction over T steps: out[0] = h_t, out[1] = c_t for every t, from
 * xg(B,T,4H) = x W_ih^T + b_ih (all steps' input projections), h0, c0 (B,H) or NULL (zeros),
 * w_hh(4H,H), b_hh(4H) or NULL; gate pre-activations xg[:,t] + h_prev W_hh^T + b_hh.
 * reverse: time runs from T-1 down to 0 (the reverse direction of a bidirectional LSTM). */
struct nn_tensor *nn_lstm_seq(struct nn_graph *g, struct nn_tensor *xg, struct nn_tensor *h0, struct nn_tensor *c0,
                              struct nn_tensor *w_hh, struct nn_tensor *b_hh, int reverse);

#endif
