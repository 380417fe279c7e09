#include "blocks.h"
#include <stdio.h>

void blk_mha_declare(struct blk_mha *a, struct nn_params *P, const char *prefix, int64_t dim, int heads, int bias) {
  char name[NN_NAME_MAX];
  NN_ASSERT(dim % heads == 0, "attention %s: width %lld is not divisible by %d heads", prefix, (long long)dim, heads);
  a->heads = heads;
  a->bias = bias;
  int *idx[4] = {&a->query, &a->key, &a->value, &a->proj};
  const char *leaf[4] = {"query", "key", "value", "proj"};
  for (int i = 0; i < 4; i++) {
    snprintf(name, sizeof name, "%s.%s", prefix, leaf[i]);
    *idx[i] = nn_declare_linear(P, name, dim, dim, bias);
  }
}

struct nn_tensor *blk_linear(struct nn_graph *g, struct nn_params *P, int w, int has_bias, struct nn_tensor *x) {
  return nn_linear(g, x, nn_pt(P, w), has_bias ? nn_pt(P, w + 1) : NULL);
}

struct nn_tensor *blk_mha_forward(const struct blk_mha *a, struct nn_graph *g, struct nn_params *P,
                                  struct nn_tensor *x, int causal, float attn_dropout) {
  struct nn_tensor *q = blk_linear(g, P, a->query, a->bias, x);
  struct nn_tensor *k = blk_linear(g, P, a->key, a->bias, x);
  struct nn_tensor *v = blk_linear(g, P, a->value, a->bias, x);
  struct nn_tensor *y = nn_attention(g, q, k, v, a->heads, causal, attn_dropout);
  return blk_linear(g, P, a->proj, a->bias, y);
}
