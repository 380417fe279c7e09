/* attn ops: fused multi-head scaled-dot-product attention (causal mask, dropout on probabilities). */
#ifndef NN_OPS_ATTN_H
#define NN_OPS_ATTN_H
#include "../nn_graph.h"

/* Dropout on the attention probabilities: entry (b,h,t,s) is kept iff
 * nn_rng_uniform(seed, stream, step, (key0 + b*key_stride)*H*T*S + (h*T + t)*S + s) >= p. */
struct nn_attn_dropout {
  float p; /* 0: off */
  uint32_t stream;
  uint64_t seed, step;
  int64_t key0, key_stride;
};

/* Kernels of this family; every backend provides one instance (nn_cpu_attn, ...). */
struct nn_k_attn {
  /* floats of workspace the forward (backward = 0) or the backward (backward = 1) kernel needs */
  int64_t (*work)(int64_t B, int64_t H, int64_t T, int64_t S, int backward, int dropout);
  /* out(B,T,H*D) = per head softmax(q k^T * scale, causal: s > t + S - T excluded), dropped, @ v;
   * q(B,T,H*D), k, v (B,S,H*D); p(B,H,T,S) gets the probabilities, a dropped entry negated */
  void (*forward)(float *out, float *p, float *work, const float *q, const float *k, const float *v,
                  int64_t B, int64_t T, int64_t S, int64_t H, int64_t D, float scale, int causal,
                  const struct nn_attn_dropout *drop);
  /* dq(B,T,H*D), dk, dv (B,S,H*D) (each may be NULL) += gradients from dout(B,T,H*D), given the
   * forward's p and its dropout probability drop_p (0: off) */
  void (*backward)(float *dq, float *dk, float *dv, float *work, const float *dout, const float *p,
                   const float *q, const float *k, const float *v, int64_t B, int64_t T, int64_t S, int64_t H,
                   int64_t D, float scale, int causal, float drop_p);
};

/* out(B,T,C) = multi-head attention of q(B,T,C) over k, v (B,S,C), C = heads*D, head h on columns
 * [h*D,(h+1)*D): softmax(q k^T / sqrt(D) [+ causal mask s > t+(S-T)]) with dropout dropout_p on
 * the probabilities (g->training only), @ v. */
struct nn_tensor *nn_attention(struct nn_graph *g, struct nn_tensor *q, struct nn_tensor *k, struct nn_tensor *v,
                               int heads, int causal, float dropout_p);

#endif
