/* nn_layers: typed handles for the layers models are made of, and parameter-name scopes.
 * A layer is declared once, under a scope, with its flags (bias, bidirectional, ...); the
 * declaration returns a small handle (parameter indices and sizes) that the model keeps and
 * passes to the layer's forward together with the parameter table:
 *
 *   struct nn_scope b = nn_scope_sub(root, "blocks.%d", i);                 // "blocks.3"
 *   struct nn_linear q = nn_linear_decl(b, "attn.query", C, C, NN_BIAS);    // blocks.3.attn.query.{weight,bias}
 *   ...
 *   y = nn_linear_fwd(g, P, &q, x);
 *
 * Names, shapes, initialisation and declaration order follow PyTorch (torch.nn.Linear, Conv2d,
 * LayerNorm, Embedding, BatchNorm2d, LSTM, GRU), so checkpoints load as state_dict keys.
 * Handles hold indices, not pointers: they stay valid while the table grows. The forwards are
 * compositions of the nn_* op builders (src/ops), so they run on every backend.
 * Design: docs/arch/layers.md. */
#ifndef NN_LAYERS_H
#define NN_LAYERS_H
#include "nn_graph.h"
#include "nn_params.h"

/* ---- scopes: dotted parameter-name prefixes ---- */

/* A point in the name tree of a parameter table: "" (the root) or a dotted path "blocks.3.attn". */
struct nn_scope {
  struct nn_params *P;
  char name[NN_NAME_MAX];
};

/* The root scope of P (names are declared as given). */
struct nn_scope nn_scope_root(struct nn_params *P);
/* The child scope s.<fmt...> (printf format, e.g. nn_scope_sub(s, "blocks.%d", i)); asserts the
 * name fits NN_NAME_MAX. */
struct nn_scope nn_scope_sub(struct nn_scope s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Full name s.leaf into out (leaf NULL or "": the scope's own name); asserts it fits. */
void nn_scope_name(char out[NN_NAME_MAX], struct nn_scope s, const char *leaf);
/* Declare parameter s.leaf (see nn_param_declare); returns its index. */
int nn_scope_param(struct nn_scope s, const char *leaf, int ndim, const int64_t *shape, enum nn_init init,
                   float init_a, int decay);
/* Declare buffer s.leaf (see nn_declare_buffer); returns its index. */
int nn_scope_buffer(struct nn_scope s, const char *leaf, int ndim, const int64_t *shape, enum nn_init init);

/* ---- layers: nn_<layer>_decl(s, name, ...) declares under s.name (name NULL: under s itself) ---- */

/* Layer flags, given once at declaration. */
enum {
  NN_BIAS = 1 << 0,  /* linear / conv / layernorm / recurrent layers: with bias vectors */
  NN_BIDIR = 1 << 1, /* recurrent layers: a second, reverse-time direction (outputs concatenated) */
};

/* ---- torch.nn.Linear: name.weight (out,in) ~ U(+-1/sqrt(in)), decayed; name.bias (out) ---- */
struct nn_linear {
  int weight, bias; /* parameter indices; bias -1 without NN_BIAS */
  int64_t in, out;
};
struct nn_linear nn_linear_decl(struct nn_scope s, const char *name, int64_t in, int64_t out, unsigned flags);
/* y(...,out) = x(...,in) @ weight^T + bias */
struct nn_tensor *nn_linear_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_linear *l,
                                struct nn_tensor *x);

/* ---- torch.nn.LayerNorm over the last dim: name.weight = 1, name.bias = 0 (no decay), eps 1e-5 ---- */
struct nn_layernorm {
  int weight, bias; /* bias -1 without NN_BIAS */
  int64_t dim;
  float eps;
};
struct nn_layernorm nn_layernorm_decl(struct nn_scope s, const char *name, int64_t dim, unsigned flags);
/* y(...,dim) = layer norm of x(...,dim) */
struct nn_tensor *nn_layernorm_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_layernorm *l,
                                   struct nn_tensor *x);

/* ---- torch.nn.Embedding: name.weight (num,dim) ~ N(0,1), no decay ---- */
struct nn_embedding {
  int weight;
  int64_t num, dim;
};
struct nn_embedding nn_embedding_decl(struct nn_scope s, const char *name, int64_t num, int64_t dim);
/* y(ids shape...,dim) = weight[ids] for int32/int64 ids */
struct nn_tensor *nn_embedding_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_embedding *l,
                                   struct nn_tensor *ids);

/* ---- torch.nn.Conv2d (square kernel): name.weight (cout,cin,k,k) ~ U(+-1/sqrt(cin*k*k)),
 * decayed; name.bias (cout) ---- */
struct nn_conv2d {
  int weight, bias; /* bias -1 without NN_BIAS */
  int64_t cin, cout, k, stride, pad;
};
struct nn_conv2d nn_conv2d_decl(struct nn_scope s, const char *name, int64_t cin, int64_t cout, int64_t k,
                                int64_t stride, int64_t pad, unsigned flags);
/* y(N,cout,Ho,Wo) = conv of x(N,cin,H,W) */
struct nn_tensor *nn_conv2d_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_conv2d *l,
                                struct nn_tensor *x);

/* ---- torch.nn.BatchNorm2d (affine, tracking running statistics): parameters name.weight = 1,
 * name.bias = 0 (no decay); buffers name.running_mean = 0, name.running_var = 1 and
 * name.num_batches_tracked (a float scalar here, int64 in PyTorch), in that order ---- */
struct nn_batchnorm2d {
  int weight, bias, running_mean, running_var, num_batches_tracked;
  int64_t channels;
  float momentum, eps; /* 0.1, 1e-5 as PyTorch */
};
struct nn_batchnorm2d nn_batchnorm2d_decl(struct nn_scope s, const char *name, int64_t channels);
/* y(N,C,H,W) = batch norm of x; in training (g->training) batch statistics, the running statistics
 * updated in place and num_batches_tracked += 1; otherwise the running statistics */
struct nn_tensor *nn_batchnorm2d_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_batchnorm2d *l,
                                     struct nn_tensor *x);

/* ---- torch.nn.LSTM / torch.nn.GRU, batch_first ----
 * Parameters per layer k and direction (suffix "" or "_reverse"), in PyTorch's order:
 * name.weight_ih_l<k>[_reverse] (G*H, in_k), name.weight_hh_l<k>[_reverse] (G*H, H) (decayed),
 * name.bias_ih_l<k>[_reverse] (G*H), name.bias_hh_l<k>[_reverse] (G*H) with NN_BIAS; all
 * ~ U(+-1/sqrt(H)); G = 4 gates i,f,g,o (LSTM) or 3 gates r,z,n (GRU); in_0 = input,
 * in_k = H * directions. Dropout p on the outputs of every layer but the last, in training. */
#define NN_RNN_MAX_LAYERS 8
enum nn_rnn_mode { NN_RNN_LSTM = 4, NN_RNN_GRU = 3 }; /* the value is the gate count */
struct nn_rnn {
  enum nn_rnn_mode mode;
  int64_t input, hidden, layers, dirs;
  float dropout;
  /* parameter indices [layer][direction]; biases -1 without NN_BIAS */
  int w_ih[NN_RNN_MAX_LAYERS][2], w_hh[NN_RNN_MAX_LAYERS][2], b_ih[NN_RNN_MAX_LAYERS][2],
      b_hh[NN_RNN_MAX_LAYERS][2];
};
/* Distinct types so an LSTM handle cannot reach the GRU forward. */
struct nn_lstm {
  struct nn_rnn r;
};
struct nn_gru {
  struct nn_rnn r;
};
/* flags: NN_BIAS (PyTorch's default bias=True), NN_BIDIR; 1 <= layers <= NN_RNN_MAX_LAYERS. */
struct nn_lstm nn_lstm_decl(struct nn_scope s, const char *name, int64_t input, int64_t hidden, int64_t layers,
                            float dropout, unsigned flags);
struct nn_gru nn_gru_decl(struct nn_scope s, const char *name, int64_t input, int64_t hidden, int64_t layers,
                          float dropout, unsigned flags);
/* y(B,T,dirs*H) = the last layer's hidden states (forward direction in [:H], reverse in [H:]) of
 * x(B,T,input); h0, c0 (layers*dirs, B, H) initial states, NULL for zeros; when not NULL,
 * *hn and *cn get the final states (layers*dirs, B, H) in the same order as PyTorch
 * (index layer*dirs + direction). One step of a forward-only LSTM with T = 1 and h0/c0 the
 * previous hn/cn continues a sequence (incremental decoding). */
struct nn_tensor *nn_lstm_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_lstm *l, struct nn_tensor *x,
                              struct nn_tensor *h0, struct nn_tensor *c0, struct nn_tensor **hn,
                              struct nn_tensor **cn);
/* As nn_lstm_fwd for the GRU (no cell state). */
struct nn_tensor *nn_gru_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_gru *l, struct nn_tensor *x,
                             struct nn_tensor *h0, struct nn_tensor **hn);

/* ---- helpers ---- */
/* The tensor of parameter index i, or NULL for i < 0 (an absent bias). */
static inline struct nn_tensor *nn_pt_opt(struct nn_params *P, int i) { return i < 0 ? NULL : nn_pt(P, i); }
/* out = xs[0..n) joined along dim 0, any n >= 1 (nn_concat in groups of NN_MAX_IN; xs not modified). */
struct nn_tensor *nn_concat0(struct nn_graph *g, int n, struct nn_tensor **xs);

/* ---- untyped forms for tests and tools: declare at the root and return the weight's index
 * (a bias / layernorm bias follows it); models use the typed handles above ---- */
int nn_declare_linear(struct nn_params *P, const char *prefix, int64_t in, int64_t out, int bias);
int nn_declare_conv2d(struct nn_params *P, const char *prefix, int64_t cin, int64_t cout, int64_t k, int bias);
int nn_declare_layernorm(struct nn_params *P, const char *prefix, int64_t dim);
int nn_declare_embedding(struct nn_params *P, const char *prefix, int64_t num, int64_t dim);

#endif
