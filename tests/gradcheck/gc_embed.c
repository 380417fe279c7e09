/* Gradient-check cases of the embedding op (few ids, so they repeat). */
#include "gradcheck.h"

#define S NN_SHAPE
static struct nn_tensor *emb_i32(struct nn_graph *g, struct gc_ctx *c) {
  struct nn_tensor *ids = gc_index(c, g, NN_I32, 2, S(3, 4), 5);
  return nn_embedding(g, ids, gc_input(c, g, 2, S(5, 7), 1));
}
static struct nn_tensor *emb_i64_3d(struct nn_graph *g, struct gc_ctx *c) {
  struct nn_tensor *ids = gc_index(c, g, NN_I64, 3, S(2, 3, 4), 6);
  return nn_embedding(g, ids, gc_input(c, g, 2, S(6, 3), 1));
}
static struct nn_tensor *emb_i64_1d(struct nn_graph *g, struct gc_ctx *c) {
  struct nn_tensor *ids = gc_index(c, g, NN_I64, 1, S(9), 4);
  return nn_embedding(g, ids, gc_input(c, g, 2, S(4, 5), 1));
}
/* threaded backward: the vocabulary split over threads */
static struct nn_tensor *emb_big(struct nn_graph *g, struct gc_ctx *c) {
  struct nn_tensor *ids = gc_index(c, g, NN_I32, 2, S(8, 64), 50);
  return nn_embedding(g, ids, gc_input(c, g, 2, S(50, 97), 1));
}

const struct gc_case gc_embed[] = {
    {"embedding_i32_repeats", NN_OP_EMBEDDING, emb_i32},
    {"embedding_i64_3d_ids", NN_OP_EMBEDDING, emb_i64_3d},
    {"embedding_i64_1d", NN_OP_EMBEDDING, emb_i64_1d},
    {"embedding_big", NN_OP_EMBEDDING, emb_big},
    {0},
};
