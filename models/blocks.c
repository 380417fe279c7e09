#include "blocks.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct blk_mha blk_mha_decl(struct nn_scope s, const char *name, int64_t dim, int heads, unsigned flags) {
  struct nn_scope a = nn_scope_sub(s, "%s", name);
  NN_ASSERT(heads > 0 && dim % heads == 0, "attention %s: width %lld is not divisible by %d heads", a.name,
            (long long)dim, heads);
  struct blk_mha m = {.heads = heads}; /* one statement each: the declaration order is the checkpoint order */
  m.query = nn_linear_decl(a, "query", dim, dim, flags);
  m.key = nn_linear_decl(a, "key", dim, dim, flags);
  m.value = nn_linear_decl(a, "value", dim, dim, flags);
  m.proj = nn_linear_decl(a, "proj", dim, dim, flags);
  return m;
}

/* Append the new rows of t (1,T,C) to the cache buffer and return a (1,len,C) view of it. */
static struct nn_tensor *cache_append(struct nn_graph *g, float *buf, int64_t len, struct nn_tensor *t) {
  int64_t T = t->shape[1], C = t->shape[2];
  g->be->copy(buf + len * C, t->data, sizeof(float) * (size_t)(T * C));
  struct nn_tensor *v = nn_new(g, NN_F32, 0, NULL); /* header only: point it at the cache */
  if (!v) return NULL;
  nn_tensor_set_shape(v, 3, NN_SHAPE(1, len + T, C));
  v->data = buf;
  return v;
}

struct nn_tensor *blk_mha_fwd(struct nn_graph *g, struct nn_params *P, const struct blk_mha *a, struct nn_tensor *x,
                              int causal, float attn_dropout, struct blk_kv_cache *cache) {
  int64_t pos0 = cache ? cache->len : 0;
  struct nn_tensor *q = nn_linear_fwd(g, P, &a->query, x);
  struct nn_tensor *k = nn_linear_fwd(g, P, &a->key, x);
  struct nn_tensor *v = nn_linear_fwd(g, P, &a->value, x);
  if (a->rope_base > 0) {
    q = nn_rope(g, q, a->heads, pos0, a->rope_base);
    k = nn_rope(g, k, a->heads, pos0, a->rope_base);
  }
  if (cache && k && v) {
    NN_ASSERT(x->shape[0] == 1 && cache->len + x->shape[1] <= cache->cap, "kv cache: batch %lld, %lld + %lld > %lld",
              (long long)x->shape[0], (long long)cache->len, (long long)x->shape[1], (long long)cache->cap);
    k = cache_append(g, cache->k, cache->len, k);
    v = cache_append(g, cache->v, cache->len, v);
  }
  struct nn_tensor *y = nn_attention(g, q, k, v, a->heads, causal, attn_dropout);
  return nn_linear_fwd(g, P, &a->proj, y);
}

void blk_init_normal(struct nn_params *P, int first, int last, float std) {
  for (int i = first; i < last; i++)
    if (P->p[i].t.ndim >= 2) {
      P->p[i].init = NN_INIT_NORMAL;
      P->p[i].init_a = std;
    } else if (P->p[i].init == NN_INIT_UNIFORM) {
      P->p[i].init = NN_INIT_ZEROS; /* linear biases start at zero in minGPT */
    }
}

void blk_text_io(struct nn_graph *g, const struct ds_batch *b, int64_t T, struct nn_tensor **inputs,
                 struct nn_tensor **targets) {
  int64_t n = b->n;
  *inputs = nn_new(g, NN_I32, 2, NN_SHAPE(n, T));
  *targets = nn_new(g, NN_I32, 2, NN_SHAPE(n, T));
  int32_t *hi = nn_arena_alloc(&g->meta, sizeof(int32_t) * (size_t)(2 * n * T));
  if (!*inputs || !*targets || !hi) {
    *inputs = *targets = NULL;
    return;
  }
  int32_t *ht = hi + n * T;
  for (int64_t i = 0; i < n; i++) {
    memcpy(hi + i * T, b->tokens + i * (T + 1), sizeof(int32_t) * (size_t)T);
    memcpy(ht + i * T, b->tokens + i * (T + 1) + 1, sizeof(int32_t) * (size_t)T);
  }
  g->be->to_device((*inputs)->i32, hi, sizeof(int32_t) * (size_t)(n * T));
  g->be->to_device((*targets)->i32, ht, sizeof(int32_t) * (size_t)(n * T));
}

nn_status blk_kv_cache_init(struct blk_kv_cache *c, const struct nn_backend *be, int64_t cap, int64_t dim) {
  c->k = be->alloc(sizeof(float) * (size_t)(cap * dim));
  c->v = be->alloc(sizeof(float) * (size_t)(cap * dim));
  c->len = 0;
  c->cap = cap;
  c->dim = dim;
  if (!c->k || !c->v) return nn_fail(NN_ERR_OOM, "out of memory for a %lld x %lld key/value cache", (long long)cap, (long long)dim);
  return NN_OK;
}

void blk_kv_cache_free(struct blk_kv_cache *c, const struct nn_backend *be) {
  be->free(c->k);
  be->free(c->v);
  c->k = c->v = NULL;
}

nn_status blk_lm_forward(void *self, struct nn_graph *g, struct nn_params *P, const struct ds_batch *b,
                         struct model_out *out) {
  struct blk_lm *m = self;
  struct nn_tensor *idx, *tgt;
  blk_text_io(g, b, m->block, &idx, &tgt);
  if (!idx) return g->status;
  out->loss = nn_cross_entropy(g, m->logits(self, g, P, idx, NULL), tgt, -100);
  out->logits = NULL;
  out->count = b->n * m->block;
  return g->status;
}

nn_status blk_lm_decode(void *self, struct nn_graph *g, struct nn_params *P, struct nn_tensor *idx,
                        struct blk_kv_cache *caches, struct nn_tensor **logits) {
  struct blk_lm *m = self;
  *logits = m->logits(self, g, P, idx, caches);
  if (*logits)
    for (int64_t l = 0; l < m->layers; l++) caches[l].len += idx->shape[1];
  return g->status;
}

void blk_lm_shape(void *self, int64_t *layers, int64_t *dim, int64_t *context) {
  struct blk_lm *m = self;
  *layers = m->layers;
  *dim = m->width;
  *context = m->block;
}

void blk_lm_destroy(void *self) {
  free(((struct blk_lm *)self)->layers_mem);
  free(self);
}
