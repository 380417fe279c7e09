/* attn ops: fused multi-head scaled-dot-product attention (causal mask, dropout on probabilities). */
#ifndef NN_OPS_ATTN_H
#define NN_OPS_ATTN_H
#include "../nn_graph.h"

struct nn_backend;

/* Dropout on the attention probabilities: entry (b,h,t,s) is kept iff
 * nn_rng_uniform(seed, stream, step, (key0 + b*key_stride)*H*T*S + (h*T + t)*S + s) >= p. */
struct nn_attn_dropout {
  float p; /* 0: off */
  uint32_t stream;
  uint64_t seed, step;
  int64_t key0, key_stride;
};

/* Arguments of the attn kernels, one struct for forward and backward. */
struct nn_attn_args {
  int64_t B, T, S, H, D;       /* batch, queries, keys, heads, head size */
  float scale;                 /* on the scores, 1/sqrt(D) */
  int causal;                  /* s > t + S - T excluded */
  const float *kmask;          /* key padding mask (B,S): 0 = key s of batch b excluded (a PAD), 1 = kept;
                                  NULL: none. A row with every key excluded gives zeros. */
  struct nn_attn_dropout drop; /* drop.p 0: off (backward reads only drop.p) */
  const float *q, *k, *v;      /* q(B,T,H*D), k, v (B,S,H*D) */
  float *out;                  /* forward: (B,T,H*D) */
  float *p;                    /* (B,H,T,S) probabilities, a dropped entry negated (forward writes) */
  float *work;                 /* workspace of work() floats */
  const float *dout;           /* backward: (B,T,H*D) */
  float *dq, *dk, *dv;         /* backward: +=, each may be NULL */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_attn, ...). */
struct nn_k_attn {
  /* floats of workspace the forward (backward = 0) or the backward (backward = 1) kernel needs */
  int64_t (*work)(const struct nn_backend *be, const struct nn_attn_args *a, int backward);
  /* out = per head softmax(q k^T * scale, causal mask), dropped, @ v; p gets the probabilities */
  void (*forward)(const struct nn_backend *be, const struct nn_attn_args *a);
  /* dq, dk, dv += gradients from dout, given the forward's p and drop.p */
  void (*backward)(const struct nn_backend *be, const struct nn_attn_args *a);
};

/* out(B,T,C) = multi-head attention of q(B,T,C) over k, v (B,S,C), C = heads*D, head h on columns
 * [h*D,(h+1)*D): softmax(q k^T / sqrt(D) [+ causal mask s > t+(S-T)]) with dropout dropout_p on
 * the probabilities (g->training only), @ v. */
struct nn_tensor *nn_attention(struct nn_graph *g, struct nn_tensor *q, struct nn_tensor *k, struct nn_tensor *v,
                               int heads, int causal, float dropout_p);
/* As nn_attention with a key padding mask kmask (B,S) F32 (1 = attend, 0 = padding, no gradient;
 * NULL = none): masked keys get probability 0 (torch's key_padding_mask, True where kmask is 0). */
struct nn_tensor *nn_attention_masked(struct nn_graph *g, struct nn_tensor *q, struct nn_tensor *k,
                                      struct nn_tensor *v, int heads, int causal, float dropout_p,
                                      struct nn_tensor *kmask);

#endif
