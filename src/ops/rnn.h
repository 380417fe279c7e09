/* rnn ops: torch.nn.LSTMCell and torch.nn.GRUCell (PyTorch gate order and formulas). */
#ifndef NN_OPS_RNN_H
#define NN_OPS_RNN_H
#include "../nn_graph.h"

struct nn_backend;

/* Arguments of the rnn cell kernels (LSTM and GRU share the struct; each uses its fields). */
struct nn_rnn_args {
  int64_t B, H;                  /* batch, hidden size */
  const float *b_ih, *b_hh;      /* biases, may be NULL */
  /* LSTM */
  float *act;                    /* (B,4H): gate pre-activations in, activations out */
  const float *c;                /* (B,H) previous cell */
  float *out;                    /* (2,B,H): h', c' */
  const float *dout;             /* backward: (2,B,H) */
  float *dgates;                 /* backward: (B,4H) */
  float *dc;                     /* backward: (B,H) +=, may be NULL */
  /* GRU */
  const float *gi, *gh, *h;      /* (B,3H), (B,3H), (B,H) */
  float *hn;                     /* (B,H) */
  float *save;                   /* (B,4H) */
  const float *dhn;              /* backward: (B,H) */
  float *dgi, *dgh;              /* backward: (B,3H) */
  float *dh;                     /* backward: (B,H) +=, may be NULL */
  /* bias gradient: db(cols) += column sums of dy(rows,cols) */
  int64_t rows, cols;
  const float *dy;
  float *db;
};

/* Kernels of this family; every backend provides one instance (nn_cpu_rnn, ...). */
struct nn_k_rnn {
  /* act(B,4H) = sigmoid/tanh of the gate pre-activations act(B,4H) (+ b_ih + b_hh when not NULL),
   * gates i,f,g,o; out(2,B,H): out[0] = h' = o*tanh(c'), out[1] = c' = f*c(B,H) + i*g */
  void (*lstm_fwd)(const struct nn_backend *be, const struct nn_rnn_args *a);
  /* dgates(B,4H) = d pre-activations from dout(2,B,H), act(B,4H), c(B,H), out(2,B,H);
   * dc(B,H) += d c when dc is not NULL */
  void (*lstm_bwd)(const struct nn_backend *be, const struct nn_rnn_args *a);
  /* hn(B,H) = (1-z)*n + z*h from gi(B,3H) = x W_ih^T and gh(B,3H) = h W_hh^T (+ biases when not
   * NULL, gates r,z,n); save(B,4H) = r, z, n, W_hn h + b_hn per row, for the backward */
  void (*gru_fwd)(const struct nn_backend *be, const struct nn_rnn_args *a);
  /* dgi(B,3H), dgh(B,3H) = d pre-activations of the input and hidden products from dhn(B,H),
   * save(B,4H) and h(B,H); dh(B,H) += the direct path z*dhn when dh is not NULL */
  void (*gru_bwd)(const struct nn_backend *be, const struct nn_rnn_args *a);
  /* db(cols) += sum over rows of dy(rows,cols) */
  void (*bias_grad)(const struct nn_backend *be, const struct nn_rnn_args *a);
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
