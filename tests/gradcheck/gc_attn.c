/* Gradient-check cases of the attn ops. */
#include "gradcheck.h"

#define S NN_SHAPE
/* q (B,T,C), k and v (B,Sk,C) */
static struct nn_tensor *attn_qkv(struct nn_graph *g, struct gc_ctx *c, int64_t B, int64_t T, int64_t Sk, int64_t C,
                                  int heads, int causal, float p) {
  struct nn_tensor *q = gc_input(c, g, 3, S(B, T, C), 1), *k = gc_input(c, g, 3, S(B, Sk, C), 1);
  return nn_attention(g, q, k, gc_input(c, g, 3, S(B, Sk, C), 1), heads, causal, p);
}
static struct nn_tensor *attn_plain(struct nn_graph *g, struct gc_ctx *c) { return attn_qkv(g, c, 2, 3, 3, 6, 1, 0, 0); }
static struct nn_tensor *attn_cross(struct nn_graph *g, struct gc_ctx *c) { return attn_qkv(g, c, 2, 3, 5, 9, 3, 0, 0); }
static struct nn_tensor *attn_causal(struct nn_graph *g, struct gc_ctx *c) { return attn_qkv(g, c, 2, 4, 4, 6, 3, 1, 0); }
static struct nn_tensor *attn_causal_cache(struct nn_graph *g, struct gc_ctx *c) {
  return attn_qkv(g, c, 1, 2, 5, 6, 2, 1, 0); /* T < S: bottom-right aligned, as with a key/value cache */
}
static struct nn_tensor *attn_dropout(struct nn_graph *g, struct gc_ctx *c) { return attn_qkv(g, c, 2, 4, 3, 6, 2, 0, 0.2f); }
static struct nn_tensor *attn_causal_dropout(struct nn_graph *g, struct gc_ctx *c) {
  return attn_qkv(g, c, 2, 5, 5, 3, 1, 1, 0.2f);
}
/* more query rows than one causal block (64), so block-skipping of keys is exercised */
static struct nn_tensor *attn_causal_blocks(struct nn_graph *g, struct gc_ctx *c) {
  return attn_qkv(g, c, 1, 70, 72, 4, 2, 1, 0);
}
/* q = k = v: one tensor receiving three gradients */
static struct nn_tensor *attn_self(struct nn_graph *g, struct gc_ctx *c) {
  struct nn_tensor *x = gc_input(c, g, 3, S(2, 3, 4), 1);
  return nn_attention(g, x, x, x, 2, 1, 0);
}
/* only q takes a gradient */
static struct nn_tensor *attn_q_only(struct nn_graph *g, struct gc_ctx *c) {
  struct nn_tensor *q = gc_input(c, g, 3, S(1, 3, 4), 1), *k = gc_const(c, g, 3, S(1, 4, 4), 1);
  return nn_attention(g, q, k, gc_const(c, g, 3, S(1, 4, 4), 1), 2, 0, 0);
}
/* key padding mask (B,S): batch 0 with holes, batch 1 one key, batch 2 none (zeros out) */
static struct nn_tensor *attn_kmask(struct nn_graph *g, int64_t B, int64_t Sk) {
  static const float m[3][5] = {{1, 1, 0, 1, 0}, {1, 0, 0, 0, 0}, {0, 0, 0, 0, 0}};
  float h[15];
  for (int64_t b = 0; b < B; b++)
    for (int64_t s = 0; s < Sk; s++) h[b * Sk + s] = m[b][s];
  struct nn_tensor *t = nn_new(g, NN_F32, 2, S(B, Sk));
  if (t) nn_be_to_device(g->be, t->data, h, sizeof(float) * (size_t)(B * Sk));
  return t;
}
static struct nn_tensor *attn_masked_qkv(struct nn_graph *g, struct gc_ctx *c, int causal, float p) {
  struct nn_tensor *q = gc_input(c, g, 3, S(3, 4, 6), 1), *k = gc_input(c, g, 3, S(3, 5, 6), 1);
  return nn_attention_masked(g, q, k, gc_input(c, g, 3, S(3, 5, 6), 1), 2, causal, p, attn_kmask(g, 3, 5));
}
static struct nn_tensor *attn_masked(struct nn_graph *g, struct gc_ctx *c) { return attn_masked_qkv(g, c, 0, 0); }
static struct nn_tensor *attn_masked_causal(struct nn_graph *g, struct gc_ctx *c) { return attn_masked_qkv(g, c, 1, 0); }
static struct nn_tensor *attn_masked_dropout(struct nn_graph *g, struct gc_ctx *c) { return attn_masked_qkv(g, c, 0, 0.2f); }

const struct gc_case gc_attn[] = {
    {"attention_key_padding_mask", NN_OP_ATTENTION, attn_masked},
    {"attention_key_padding_mask_causal", NN_OP_ATTENTION, attn_masked_causal},
    {"attention_key_padding_mask_dropout", NN_OP_ATTENTION, attn_masked_dropout},
    {"attention_plain_1head", NN_OP_ATTENTION, attn_plain},
    {"attention_cross_t_ne_s_3heads_odd_d", NN_OP_ATTENTION, attn_cross},
    {"attention_causal_3heads", NN_OP_ATTENTION, attn_causal},
    {"attention_causal_t_lt_s", NN_OP_ATTENTION, attn_causal_cache},
    {"attention_dropout", NN_OP_ATTENTION, attn_dropout},
    {"attention_causal_dropout_odd_d", NN_OP_ATTENTION, attn_causal_dropout},
    {"attention_causal_blocks", NN_OP_ATTENTION, attn_causal_blocks},
    {"attention_self_qkv", NN_OP_ATTENTION, attn_self},
    {"attention_q_only", NN_OP_ATTENTION, attn_q_only},
    {0},
};
