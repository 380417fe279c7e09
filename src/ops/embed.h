/* embedding op: rows of a weight table looked up by integer ids (torch.nn.Embedding). */
#ifndef NN_OPS_EMBED_H
#define NN_OPS_EMBED_H
#include "../nn_graph.h"

struct nn_backend;

/* Arguments of the embed kernels. */
struct nn_embed_args {
  int64_t n, V, D;   /* ids, vocabulary, width */
  const void *ids;   /* (n) int32, or int64 when i64 */
  int i64;
  const float *w;    /* (V,D) */
  float *out;        /* forward: (n,D) */
  const float *dy;   /* backward: (n,D) */
  float *dw;         /* backward: (V,D) += */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_embed, ...). */
struct nn_k_embed {
  /* out(n,D) = w(V,D)[ids(n)]; returns the position of the first id outside [0,V), or -1 */
  int64_t (*forward)(const struct nn_backend *be, const struct nn_embed_args *a);
  /* dw(V,D)[ids(k)] += dy(n,D)[k] for every k < n */
  void (*backward)(const struct nn_backend *be, const struct nn_embed_args *a);
};

/* out(ids shape..., D) = w(V,D)[ids]: ids int32 or int64 with up to 3 dims, each in [0,V). */
struct nn_tensor *nn_embedding(struct nn_graph *g, struct nn_tensor *ids, struct nn_tensor *w);

#endif
