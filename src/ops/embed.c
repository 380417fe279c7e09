/* embed ops: forward, backward and shape checks, calling kernels through g->be->k->embed. */
#include "embed.h"
#include "../nn_backend.h"

static void embedding_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_embed_args a = *(const struct nn_embed_args *)n->attr;
  a.dw = n->in[1]->grad;
  a.dy = n->out->grad;
  g->be->k->embed->backward(g->be, &a);
}

struct nn_tensor *nn_embedding(struct nn_graph *g, struct nn_tensor *ids, struct nn_tensor *w) {
  NN_NULL_IN(ids, w);
  char s1[64], s2[64];
  NN_ASSERT((ids->dtype == NN_I32 || ids->dtype == NN_I64) && ids->ndim <= 3,
            "embedding: ids %s must be int32 or int64 with at most 3 dims", nn_shape_str(ids, s1, 64));
  NN_ASSERT(w->dtype == NN_F32 && w->ndim == 2, "embedding: weight %s must be float32 (V,D)",
            nn_shape_str(w, s2, 64));
  int64_t V = w->shape[0], D = w->shape[1], shape[NN_MAX_DIM];
  for (int i = 0; i < ids->ndim; i++) shape[i] = ids->shape[i];
  shape[ids->ndim] = D;
  struct nn_tensor *out = nn_new(g, NN_F32, ids->ndim + 1, shape);
  NN_NULL_IN(out);
  int i64 = ids->dtype == NN_I64;
  struct nn_embed_args a = {.n = ids->numel, .V = V, .D = D, .ids = ids->ptr, .i64 = i64, .w = w->data, .out = out->data};
  int64_t bad = g->be->k->embed->forward(g->be, &a);
  if (bad >= 0) {
    int64_t id = 0;
    if (i64) {
      nn_be_to_host(g->be, &id, ids->i64 + bad, sizeof id);
    } else {
      int32_t v;
      nn_be_to_host(g->be, &v, ids->i32 + bad, sizeof v);
      id = v;
    }
    NN_ASSERT(bad < 0, "embedding: id %lld at position %lld of ids %s is outside [0, V=%lld) of weight %s",
              (long long)id, (long long)bad, nn_shape_str(ids, s1, 64), (long long)V, nn_shape_str(w, s2, 64));
  }
  nn_node_attr(g, nn_record(g, NN_OP_EMBEDDING, embedding_backward, out, 2, (struct nn_tensor *[]){ids, w}), &a, sizeof a);
  return out;
}
