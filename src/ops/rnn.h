/* rnn ops: torch.nn.LSTMCell and torch.nn.GRUCell (PyTorch gate order and formulas). */
#ifndef NN_OPS_RNN_H
#define NN_OPS_RNN_H
#include "../nn_graph.h"

/* Kernels of this family (the input and hidden products are the backend's gemm). */
struct nn_k_rnn {
  /* act(B,4H) = sigmoid/tanh of the gate pre-activations act(B,4H) (+ b_ih + b_hh when not NULL),
   * gates i,f,g,o; out(2,B,H): out[0] = h' = o*tanh(c'), out[1] = c' = f*c(B,H) + i*g */
  void (*lstm_fwd)(float *out, float *act, const float *c, const float *b_ih, const float *b_hh,
                   int64_t B, int64_t H);
  /* dgates(B,4H) = d pre-activations from dout(2,B,H), act(B,4H), c(B,H), out(2,B,H);
   * dc(B,H) += d c when dc is not NULL */
  void (*lstm_bwd)(float *dgates, float *dc, const float *dout, const float *act, const float *c,
                   const float *out, int64_t B, int64_t H);
  /* hn(B,H) = (1-z)*n + z*h from gi(B,3H) = x W_ih^T and gh(B,3H) = h W_hh^T (+ biases when not
   * NULL, gates r,z,n); save(B,4H) = r, z, n, W_hn h + b_hn per row, for the backward */
  void (*gru_fwd)(float *hn, float *save, const float *gi, const float *gh, const float *h,
                  const float *b_ih, const float *b_hh, int64_t B, int64_t H);
  /* dgi(B,3H), dgh(B,3H) = d pre-activations of the input and hidden products from dhn(B,H),
   * save(B,4H) and h(B,H); dh(B,H) += the direct path z*dhn when dh is not NULL */
  void (*gru_bwd)(float *dgi, float *dgh, float *dh, const float *dhn, const float *save,
                  const float *h, int64_t B, int64_t H);
  /* db(cols) += sum over rows of dy(rows,cols) */
  void (*bias_grad)(float *db, const float *dy, int64_t rows, int64_t cols);
};

/* out(2,B,H) = torch.nn.LSTMCell: out[0] = h', out[1] = c' from x(B,I), h(B,H), c(B,H),
 * w_ih(4H,I), w_hh(4H,H), b_ih(4H), b_hh(4H) (biases may be NULL); gates i,f,g,o. */
struct nn_tensor *nn_lstm_cell(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *h,
                               struct nn_tensor *c, struct nn_tensor *w_ih, struct nn_tensor *w_hh,
                               struct nn_tensor *b_ih, struct nn_tensor *b_hh);
/* h'(B,H) = torch.nn.GRUCell from x(B,I), h(B,H), w_ih(3H,I), w_hh(3H,H), b_ih(3H), b_hh(3H)
 * (biases may be NULL); gates r,z,n. */
struct nn_tensor *nn_gru_cell(struct nn_graph *g, struct nn_tensor *x, struct nn_tensor *h,
                              struct nn_tensor *w_ih, struct nn_tensor *w_hh,
                              struct nn_tensor *b_ih, struct nn_tensor *b_hh);

#endif
