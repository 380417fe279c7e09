/* blocks: layers shared by the model families (no copy-paste between models). */
#ifndef BLOCKS_H
#define BLOCKS_H
#include "nn.h"

/* Multi-head self-attention: query/key/value/projection linears around nn_attention. */
struct blk_mha {
  int query, key, value, proj; /* weight indices (bias, if any, follows each weight) */
  int bias, heads;
};

/* Declare prefix.{query,key,value,proj} linears of dim x dim. */
void blk_mha_declare(struct blk_mha *a, struct nn_params *P, const char *prefix, int64_t dim, int heads, int bias);
/* out(B,T,C) = proj(attention(query(x), key(x), value(x))), causal or not, dropout on the probabilities. */
struct nn_tensor *blk_mha_forward(const struct blk_mha *a, struct nn_graph *g, struct nn_params *P,
                                  struct nn_tensor *x, int causal, float attn_dropout);
/* y = x @ W^T + b for the linear whose weight has index w (bias = the next parameter if has_bias). */
struct nn_tensor *blk_linear(struct nn_graph *g, struct nn_params *P, int w, int has_bias, struct nn_tensor *x);

#endif
