/* nn_layers: declarations (PyTorch names, shapes, init) and forwards of the typed layers. */
#include "nn_layers.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "nn_backend.h"
#include "ops/bnorm.h"
#include "ops/conv.h"
#include "ops/embed.h"
#include "ops/layernorm.h"
#include "ops/matmul.h"
#include "ops/dropout.h"
#include "ops/rnn.h"
#include "ops/shape.h"

/* ---- scopes ---- */

struct nn_scope nn_scope_root(struct nn_params *P) {
  struct nn_scope s;
  s.P = P;
  s.name[0] = 0;
  return s;
}

struct nn_scope nn_scope_sub(struct nn_scope s, const char *fmt, ...) {
  char leaf[NN_NAME_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(leaf, sizeof leaf, fmt, ap);
  va_end(ap);
  NN_ASSERT(n >= 0 && n < NN_NAME_MAX, "scope %s: child name '%s...' longer than %d characters", s.name, leaf,
            NN_NAME_MAX - 1);
  struct nn_scope c;
  c.P = s.P;
  nn_scope_name(c.name, s, leaf);
  return c;
}

void nn_scope_name(char out[NN_NAME_MAX], struct nn_scope s, const char *leaf) {
  int n;
  if (!leaf || !leaf[0]) n = snprintf(out, NN_NAME_MAX, "%s", s.name);
  else if (!s.name[0]) n = snprintf(out, NN_NAME_MAX, "%s", leaf);
  else n = snprintf(out, NN_NAME_MAX, "%s.%s", s.name, leaf);
  NN_ASSERT(n > 0 && n < NN_NAME_MAX, "parameter name %s.%s is empty or longer than %d characters", s.name,
            leaf ? leaf : "", NN_NAME_MAX - 1);
}

int nn_scope_param(struct nn_scope s, const char *leaf, int ndim, const int64_t *shape, enum nn_init init,
                   float init_a, int decay) {
  char name[NN_NAME_MAX];
  nn_scope_name(name, s, leaf);
  return nn_param_declare(s.P, name, ndim, shape, init, init_a, decay);
}

int nn_scope_buffer(struct nn_scope s, const char *leaf, int ndim, const int64_t *shape, enum nn_init init) {
  char name[NN_NAME_MAX];
  nn_scope_name(name, s, leaf);
  return nn_declare_buffer(s.P, name, ndim, shape, init);
}

/* The scope of a layer called name under s (name NULL or "": s itself). */
static struct nn_scope layer_scope(struct nn_scope s, const char *name) {
  return name && name[0] ? nn_scope_sub(s, "%s", name) : s;
}

/* ---- linear ---- */

struct nn_linear nn_linear_decl(struct nn_scope s, const char *name, int64_t in, int64_t out, unsigned flags) {
  struct nn_scope l = layer_scope(s, name);
  float bound = 1.0f / sqrtf((float)in); /* kaiming_uniform(a=sqrt(5)) as in torch.nn.Linear */
  struct nn_linear h = {.in = in, .out = out, .bias = -1};
  h.weight = nn_scope_param(l, "weight", 2, NN_SHAPE(out, in), NN_INIT_UNIFORM, bound, 1);
  if (flags & NN_BIAS) h.bias = nn_scope_param(l, "bias", 1, NN_SHAPE(out), NN_INIT_UNIFORM, bound, 0);
  return h;
}

struct nn_tensor *nn_linear_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_linear *l,
                                struct nn_tensor *x) {
  return nn_linear(g, x, nn_pt(P, l->weight), nn_pt_opt(P, l->bias));
}

/* ---- layernorm ---- */

struct nn_layernorm nn_layernorm_decl(struct nn_scope s, const char *name, int64_t dim, unsigned flags) {
  struct nn_scope l = layer_scope(s, name);
  struct nn_layernorm h = {.dim = dim, .eps = 1e-5f, .bias = -1};
  h.weight = nn_scope_param(l, "weight", 1, NN_SHAPE(dim), NN_INIT_ONES, 0, 0);
  if (flags & NN_BIAS) h.bias = nn_scope_param(l, "bias", 1, NN_SHAPE(dim), NN_INIT_ZEROS, 0, 0);
  return h;
}

struct nn_tensor *nn_layernorm_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_layernorm *l,
                                   struct nn_tensor *x) {
  return nn_layernorm(g, x, nn_pt(P, l->weight), nn_pt_opt(P, l->bias), l->eps);
}

/* ---- embedding ---- */

struct nn_embedding nn_embedding_decl(struct nn_scope s, const char *name, int64_t num, int64_t dim) {
  struct nn_scope l = layer_scope(s, name);
  struct nn_embedding h = {.num = num, .dim = dim};
  h.weight = nn_scope_param(l, "weight", 2, NN_SHAPE(num, dim), NN_INIT_NORMAL, 1.0f, 0);
  return h;
}

struct nn_tensor *nn_embedding_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_embedding *l,
                                   struct nn_tensor *ids) {
  return nn_embedding(g, ids, nn_pt(P, l->weight));
}

/* ---- conv2d ---- */

struct nn_conv2d nn_conv2d_decl(struct nn_scope s, const char *name, int64_t cin, int64_t cout, int64_t k,
                                int64_t stride, int64_t pad, unsigned flags) {
  struct nn_scope l = layer_scope(s, name);
  float bound = 1.0f / sqrtf((float)(cin * k * k));
  struct nn_conv2d h = {.cin = cin, .cout = cout, .k = k, .stride = stride, .pad = pad, .bias = -1};
  h.weight = nn_scope_param(l, "weight", 4, NN_SHAPE(cout, cin, k, k), NN_INIT_UNIFORM, bound, 1);
  if (flags & NN_BIAS) h.bias = nn_scope_param(l, "bias", 1, NN_SHAPE(cout), NN_INIT_UNIFORM, bound, 0);
  return h;
}

struct nn_tensor *nn_conv2d_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_conv2d *l,
                                struct nn_tensor *x) {
  return nn_conv2d(g, x, nn_pt(P, l->weight), nn_pt_opt(P, l->bias), l->stride, l->pad);
}

/* ---- batchnorm2d ---- */

struct nn_batchnorm2d nn_batchnorm2d_decl(struct nn_scope s, const char *name, int64_t channels) {
  struct nn_scope l = layer_scope(s, name);
  struct nn_batchnorm2d h = {.channels = channels, .momentum = 0.1f, .eps = 1e-5f};
  h.weight = nn_scope_param(l, "weight", 1, NN_SHAPE(channels), NN_INIT_ONES, 0, 0);
  h.bias = nn_scope_param(l, "bias", 1, NN_SHAPE(channels), NN_INIT_ZEROS, 0, 0);
  h.running_mean = nn_scope_buffer(l, "running_mean", 1, NN_SHAPE(channels), NN_INIT_ZEROS);
  h.running_var = nn_scope_buffer(l, "running_var", 1, NN_SHAPE(channels), NN_INIT_ONES);
  h.num_batches_tracked = nn_scope_buffer(l, "num_batches_tracked", 0, NULL, NN_INIT_ZEROS);
  return h;
}

struct nn_tensor *nn_batchnorm2d_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_batchnorm2d *l,
                                     struct nn_tensor *x) {
  struct nn_tensor *y = nn_batchnorm2d(g, x, nn_pt(P, l->weight), nn_pt(P, l->bias), nn_pt(P, l->running_mean),
                                       nn_pt(P, l->running_var), l->momentum, l->eps);
  if (y && g->training) { /* num_batches_tracked += 1, on the device */
    struct nn_tensor *one = nn_new(g, NN_F32, 0, NULL);
    if (!one) return NULL;
    nn_be_fill(g->be, one->data, 1.0f, 1);
    nn_be_axpy(g->be, nn_pt(P, l->num_batches_tracked)->data, 1.0f, one->data, 1);
  }
  return y;
}

/* ---- recurrent layers ---- */

static struct nn_rnn rnn_decl(struct nn_scope s, const char *name, enum nn_rnn_mode mode, int64_t input,
                              int64_t hidden, int64_t layers, float dropout, unsigned flags) {
  struct nn_scope l = layer_scope(s, name);
  NN_ASSERT(layers >= 1 && layers <= NN_RNN_MAX_LAYERS && input > 0 && hidden > 0,
            "%s: %lld layers (1 to %d), input %lld, hidden %lld", l.name, (long long)layers, NN_RNN_MAX_LAYERS,
            (long long)input, (long long)hidden);
  NN_ASSERT(dropout >= 0.0f && dropout < 1.0f, "%s: dropout %g outside [0, 1)", l.name, (double)dropout);
  struct nn_rnn r = {.mode = mode, .input = input, .hidden = hidden, .layers = layers, .dropout = dropout,
                     .dirs = flags & NN_BIDIR ? 2 : 1};
  int64_t G = (int64_t)mode, H = hidden;
  float bound = 1.0f / sqrtf((float)H); /* torch.nn.LSTM / GRU: every parameter ~ U(+-1/sqrt(H)) */
  for (int k = 0; k < layers; k++)
    for (int d = 0; d < r.dirs; d++) {
      const char *sfx = d ? "_reverse" : "";
      int64_t in = k == 0 ? input : H * r.dirs;
      char leaf[4][32];
      snprintf(leaf[0], 32, "weight_ih_l%d%s", k, sfx);
      snprintf(leaf[1], 32, "weight_hh_l%d%s", k, sfx);
      snprintf(leaf[2], 32, "bias_ih_l%d%s", k, sfx);
      snprintf(leaf[3], 32, "bias_hh_l%d%s", k, sfx);
      r.w_ih[k][d] = nn_scope_param(l, leaf[0], 2, NN_SHAPE(G * H, in), NN_INIT_UNIFORM, bound, 1);
      r.w_hh[k][d] = nn_scope_param(l, leaf[1], 2, NN_SHAPE(G * H, H), NN_INIT_UNIFORM, bound, 1);
      r.b_ih[k][d] = flags & NN_BIAS ? nn_scope_param(l, leaf[2], 1, NN_SHAPE(G * H), NN_INIT_UNIFORM, bound, 0) : -1;
      r.b_hh[k][d] = flags & NN_BIAS ? nn_scope_param(l, leaf[3], 1, NN_SHAPE(G * H), NN_INIT_UNIFORM, bound, 0) : -1;
    }
  return r;
}

struct nn_lstm nn_lstm_decl(struct nn_scope s, const char *name, int64_t input, int64_t hidden, int64_t layers,
                            float dropout, unsigned flags) {
  return (struct nn_lstm){rnn_decl(s, name, NN_RNN_LSTM, input, hidden, layers, dropout, flags)};
}

struct nn_gru nn_gru_decl(struct nn_scope s, const char *name, int64_t input, int64_t hidden, int64_t layers,
                          float dropout, unsigned flags) {
  return (struct nn_gru){rnn_decl(s, name, NN_RNN_GRU, input, hidden, layers, dropout, flags)};
}

struct nn_tensor *nn_concat0(struct nn_graph *g, int n, struct nn_tensor **xs) {
  NN_ASSERT(n >= 1, "concat0: %d inputs", n);
  if (n == 1) return xs[0];
  struct nn_tensor **cur = nn_arena_alloc(&g->meta, sizeof *cur * (size_t)n);
  if (!cur) return NULL;
  memcpy(cur, xs, sizeof *cur * (size_t)n);
  while (n > 1) { /* join groups of up to NN_MAX_IN; result j overwrites cur[j] once group j is read */
    int m = 0;
    for (int j = 0; j < n; j += NN_MAX_IN) {
      int k = n - j < NN_MAX_IN ? n - j : NN_MAX_IN;
      struct nn_tensor *t = k == 1 ? cur[j] : nn_concat(g, k, cur + j, 0);
      if (!t) return NULL;
      cur[m++] = t;
    }
    n = m;
  }
  return cur[0];
}

/* Initial state k (of layers*dirs) of h0 (layers*dirs,B,H) as (B,H), or zeros when h0 is NULL. */
static struct nn_tensor *initial_state(struct nn_graph *g, struct nn_tensor *h0, int64_t k, int64_t B, int64_t H) {
  if (!h0) return nn_zeros(g, 2, NN_SHAPE(B, H));
  return nn_reshape(g, nn_narrow(g, h0, 0, k, 1), 2, NN_SHAPE(B, H));
}

/* The shared forward of LSTM (c0/cn used) and GRU: time-major inside, layer by layer, direction
 * by direction, one cell op per step. */
static struct nn_tensor *rnn_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_rnn *r, struct nn_tensor *x,
                                 struct nn_tensor *h0, struct nn_tensor *c0, struct nn_tensor **hn,
                                 struct nn_tensor **cn) {
  NN_NULL_IN(x);
  const char *op = r->mode == NN_RNN_LSTM ? "lstm" : "gru";
  char s1[64], s2[64];
  int64_t B = x->shape[0], T = x->shape[1], H = r->hidden, D = r->dirs, L = r->layers;
  NN_ASSERT(x->ndim == 3 && x->shape[2] == r->input && T >= 1,
            "%s: x %s, expected (B,T,%lld) with T >= 1", op, nn_shape_str(x, s1, 64), (long long)r->input);
  struct nn_tensor *states[2] = {h0, c0};
  for (int i = 0; i < (r->mode == NN_RNN_LSTM ? 2 : 1); i++)
    NN_ASSERT(!states[i] || (states[i]->ndim == 3 && states[i]->shape[0] == L * D && states[i]->shape[1] == B &&
                             states[i]->shape[2] == H),
              "%s: initial %s %s, expected (%lld,%lld,%lld) for x %s", op, i ? "c0" : "h0",
              states[i] ? nn_shape_str(states[i], s1, 64) : "", (long long)(L * D), (long long)B, (long long)H,
              nn_shape_str(x, s2, 64));
  struct nn_tensor **hs = nn_arena_alloc(&g->meta, sizeof *hs * (size_t)T);
  struct nn_tensor *hf[2 * NN_RNN_MAX_LAYERS], *cf[2 * NN_RNN_MAX_LAYERS];
  if (!hs) return NULL;
  struct nn_tensor *seq = nn_transpose(g, x, 0, 1); /* (T,B,in) */
  for (int k = 0; k < L; k++) {
    struct nn_tensor *outs[2];
    for (int d = 0; d < D; d++) {
      int64_t in = k == 0 ? r->input : H * D;
      struct nn_tensor *w_ih = nn_pt(P, r->w_ih[k][d]), *w_hh = nn_pt(P, r->w_hh[k][d]);
      struct nn_tensor *b_ih = nn_pt_opt(P, r->b_ih[k][d]), *b_hh = nn_pt_opt(P, r->b_hh[k][d]);
      struct nn_tensor *h = initial_state(g, h0, k * D + d, B, H);
      struct nn_tensor *c = r->mode == NN_RNN_LSTM ? initial_state(g, c0, k * D + d, B, H) : NULL;
      for (int64_t i = 0; i < T; i++) {
        int64_t t = d ? T - 1 - i : i;
        struct nn_tensor *xt = nn_reshape(g, nn_narrow(g, seq, 0, t, 1), 2, NN_SHAPE(B, in));
        if (r->mode == NN_RNN_LSTM) {
          struct nn_tensor *o = nn_lstm_cell(g, xt, h, c, w_ih, w_hh, b_ih, b_hh); /* (2,B,H) = h', c' */
          hs[t] = nn_narrow(g, o, 0, 0, 1);
          h = nn_reshape(g, hs[t], 2, NN_SHAPE(B, H));
          c = nn_reshape(g, nn_narrow(g, o, 0, 1, 1), 2, NN_SHAPE(B, H));
        } else {
          h = nn_gru_cell(g, xt, h, w_ih, w_hh, b_ih, b_hh);
          hs[t] = nn_reshape(g, h, 3, NN_SHAPE(1, B, H));
        }
        if (!h || !hs[t]) return NULL;
      }
      outs[d] = nn_concat0(g, (int)T, hs); /* (T,B,H) */
      hf[k * D + d] = nn_reshape(g, h, 3, NN_SHAPE(1, B, H));
      cf[k * D + d] = c ? nn_reshape(g, c, 3, NN_SHAPE(1, B, H)) : NULL;
    }
    seq = D == 2 ? nn_concat(g, 2, outs, 2) : outs[0]; /* (T,B,D*H) */
    if (k < L - 1 && g->training && r->dropout > 0) /* batch first: the dropout mask is keyed by sample */
      seq = nn_transpose(g, nn_dropout(g, nn_transpose(g, seq, 0, 1), r->dropout), 0, 1);
    if (!seq) return NULL;
  }
  if (hn) *hn = nn_concat0(g, (int)(L * D), hf);
  if (cn) *cn = r->mode == NN_RNN_LSTM ? nn_concat0(g, (int)(L * D), cf) : NULL;
  return nn_transpose(g, seq, 0, 1); /* (B,T,D*H) */
}

struct nn_tensor *nn_lstm_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_lstm *l, struct nn_tensor *x,
                              struct nn_tensor *h0, struct nn_tensor *c0, struct nn_tensor **hn,
                              struct nn_tensor **cn) {
  return rnn_fwd(g, P, &l->r, x, h0, c0, hn, cn);
}

struct nn_tensor *nn_gru_fwd(struct nn_graph *g, struct nn_params *P, const struct nn_gru *l, struct nn_tensor *x,
                             struct nn_tensor *h0, struct nn_tensor **hn) {
  return rnn_fwd(g, P, &l->r, x, h0, NULL, hn, NULL);
}

/* ---- untyped declarations (index of the weight; a bias follows it), for tests and tools ---- */

int nn_declare_linear(struct nn_params *P, const char *prefix, int64_t in, int64_t out, int bias) {
  return nn_linear_decl(nn_scope_root(P), prefix, in, out, bias ? NN_BIAS : 0).weight;
}

int nn_declare_conv2d(struct nn_params *P, const char *prefix, int64_t cin, int64_t cout, int64_t k, int bias) {
  return nn_conv2d_decl(nn_scope_root(P), prefix, cin, cout, k, 1, 0, bias ? NN_BIAS : 0).weight;
}

int nn_declare_layernorm(struct nn_params *P, const char *prefix, int64_t dim) {
  return nn_layernorm_decl(nn_scope_root(P), prefix, dim, NN_BIAS).weight;
}

int nn_declare_embedding(struct nn_params *P, const char *prefix, int64_t num, int64_t dim) {
  return nn_embedding_decl(nn_scope_root(P), prefix, num, dim).weight;
}
