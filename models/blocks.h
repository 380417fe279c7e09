/* blocks: layers shared by the model families (no copy-paste between models). */
#ifndef BLOCKS_H
#define BLOCKS_H
#include "ds.h"
#include "model.h"
#include "nn.h"

/* The model_def members every language model shares (after .task = &task_lm, .preset, .build). */
#define BLK_LM_DEF_FNS                                                                                  \
  .forward = blk_lm_forward, .dec_open = blk_lm_dec_open, .dec_step = blk_lm_dec_step,                  \
  .dec_reset = blk_lm_dec_reset, .dec_free = blk_lm_dec_free, .dec_info = blk_lm_dec_info,              \
  .destroy = blk_lm_destroy

/* Multi-head self-attention: query/key/value/projection linears around nn_attention. */
struct blk_mha {
  struct nn_linear query, key, value, proj;
  int heads;
  float rope_base; /* > 0: rotary embeddings on queries and keys */
};

/* Key/value cache of one attention layer for incremental decoding (batch 1). */
struct blk_kv_cache {
  float *k, *v;   /* (cap, C) each, backend memory */
  int64_t len, cap, dim;
};

/* logits(B,T,V) of token ids idx(B,T) through the model self, optionally with one cache per layer. */
typedef struct nn_tensor *(*blk_logits_fn)(void *self, struct nn_graph *g, struct nn_params *P, struct nn_tensor *idx,
                                           struct blk_kv_cache *caches);

/* The first member of every language model's struct: what the shared forward / decoding state /
 * destroy below need. */
struct blk_lm {
  blk_logits_fn logits;
  void *layers_mem;           /* the per-layer array, freed by blk_lm_destroy */
  int64_t layers, width, block, vocab;
};

/* model_def.forward of a language model: mean next-token cross-entropy over b's windows. */
nn_status blk_lm_forward(void *self, struct nn_graph *g, struct nn_params *P, const struct ds_batch *b,
                         struct model_out *out);
/* model_def.dec_*: the decoding state of a language model is one key/value cache per layer
 * (block positions each); cond must be empty. */
nn_status blk_lm_dec_open(void *self, struct nn_graph *g, struct nn_params *P, const int32_t *cond, int64_t ncond,
                          void **state);
nn_status blk_lm_dec_step(void *self, void *state, struct nn_graph *g, struct nn_params *P, const int32_t *ids,
                          int64_t n, struct nn_tensor **logits);
void blk_lm_dec_reset(void *self, void *state);
void blk_lm_dec_free(void *self, void *state);
void blk_lm_dec_info(void *self, int64_t *context, int64_t *vocab);
/* model_def.destroy: frees the layer array and the model. */
void blk_lm_destroy(void *self);

/* Declare s.name.{query,key,value,proj}: linears of dim x dim (flags: NN_BIAS), heads heads,
 * no rotary embeddings (set rope_base after). */
struct blk_mha blk_mha_decl(struct nn_scope s, const char *name, int64_t dim, int heads, unsigned flags);
/* out(B,T,C) = proj(attention(query(x), key(x), value(x))), causal or not, dropout on the probabilities;
 * with a cache (batch 1): x holds the new positions only, keys/values are appended and attended to. */
struct nn_tensor *blk_mha_fwd(struct nn_graph *g, struct nn_params *P, const struct blk_mha *a, struct nn_tensor *x,
                              int causal, float attn_dropout, struct blk_kv_cache *cache);
/* Re-initialise parameters [first, last) (indices: P->n before and after declaring a model's layers) the
 * minGPT way: matrices normal(0, std), linear biases zero, other vectors keep their rule. */
void blk_init_normal(struct nn_params *P, int first, int last, float std);
/* Split text windows b->tokens (n, T+1) into device inputs (n,T) = [:, :T] and targets (n,T) = [:, 1:]. */
void blk_text_io(struct nn_graph *g, const struct ds_batch *b, int64_t T, struct nn_tensor **inputs,
                 struct nn_tensor **targets);
/* Allocate (cap, dim) key/value buffers on the backend; NN_ERR_OOM on failure. */
nn_status blk_kv_cache_init(struct blk_kv_cache *c, const struct nn_backend *be, int64_t cap, int64_t dim);
/* Free the buffers. */
void blk_kv_cache_free(struct blk_kv_cache *c, const struct nn_backend *be);

#endif
