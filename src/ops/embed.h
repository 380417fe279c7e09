/* embedding op: rows of a weight table looked up by integer ids (torch.nn.Embedding). */
#ifndef NN_OPS_EMBED_H
#define NN_OPS_EMBED_H
#include "../nn_graph.h"

/* Kernels of this family; every backend provides one instance (nn_cpu_embed, ...). ids are int32
 * (i64 == 0) or int64 (i64 == 1). */
struct nn_k_embed {
  /* out(n,D) = w(V,D)[ids(n)]; returns the position of the first id outside [0,V), or -1 */
  int64_t (*forward)(float *out, const void *ids, int i64, const float *w, int64_t n, int64_t V, int64_t D);
  /* dw(V,D)[ids(k)] += dy(n,D)[k] for every k < n */
  void (*backward)(float *dw, const float *dy, const void *ids, int i64, int64_t n, int64_t V, int64_t D);
};

/* out(ids shape..., D) = w(V,D)[ids]: ids int32 or int64 with up to 3 dims, each in [0,V). */
struct nn_tensor *nn_embedding(struct nn_graph *g, struct nn_tensor *ids, struct nn_tensor *w);

#endif
