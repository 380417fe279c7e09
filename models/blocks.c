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
  nn_be_copy(g->be, buf + len * C, t->data, sizeof(float) * (size_t)(T * C));
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
  if (g->probe) { /* attention maps (attn_train attention): the layer's name is its parameters' prefix */
    const char *w = P->p[a->query.weight].name, *dot = strrchr(w, '.');
    char name[NN_NAME_MAX];
    snprintf(name, sizeof name, "%.*s", dot && dot - w >= 6 ? (int)(dot - w - 6) : 0, w); /* minus ".query" */
    if (y) nn_probe(g, name, g->attn_probs);
  }
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
  nn_be_to_device(g->be, (*inputs)->i32, hi, sizeof(int32_t) * (size_t)(n * T));
  nn_be_to_device(g->be, (*targets)->i32, ht, sizeof(int32_t) * (size_t)(n * T));
}

nn_status blk_kv_cache_init(struct blk_kv_cache *c, const struct nn_backend *be, int64_t cap, int64_t dim) {
  c->k = nn_be_alloc(be, sizeof(float) * (size_t)(cap * dim));
  c->v = nn_be_alloc(be, sizeof(float) * (size_t)(cap * dim));
  c->len = 0;
  c->cap = cap;
  c->dim = dim;
  if (!c->k || !c->v) return nn_fail(NN_ERR_OOM, "out of memory for a %lld x %lld key/value cache", (long long)cap, (long long)dim);
  return NN_OK;
}

void blk_kv_cache_free(struct blk_kv_cache *c, const struct nn_backend *be) {
  nn_be_free(be, c->k);
  nn_be_free(be, c->v);
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

/* The decoding state of a language model: one key/value cache per layer. */
struct blk_lm_state {
  const struct nn_backend *be;
  struct blk_kv_cache *caches;
  int64_t layers;
};

void blk_lm_dec_free(void *self, void *state) {
  (void)self;
  struct blk_lm_state *s = state;
  if (!s) return;
  for (int64_t l = 0; s->caches && l < s->layers; l++) blk_kv_cache_free(&s->caches[l], s->be);
  free(s->caches);
  free(s);
}

nn_status blk_lm_dec_open(void *self, struct nn_graph *g, struct nn_params *P, const int32_t *cond, int64_t ncond,
                          void **state) {
  (void)P;
  (void)cond;
  struct blk_lm *m = self;
  *state = NULL;
  if (ncond > 0) return nn_fail(NN_ERR_ARG, "a language model takes no conditioning input");
  struct blk_lm_state *s = calloc(1, sizeof *s);
  if (!s || !(s->caches = calloc((size_t)m->layers, sizeof *s->caches))) {
    free(s);
    return nn_fail(NN_ERR_OOM, "out of memory for the decoding state");
  }
  s->be = g->be;
  s->layers = m->layers;
  for (int64_t l = 0; l < m->layers; l++) {
    nn_status st = blk_kv_cache_init(&s->caches[l], g->be, m->block, m->width);
    if (st != NN_OK) {
      blk_lm_dec_free(self, s);
      return st;
    }
  }
  *state = s;
  return NN_OK;
}

nn_status blk_lm_dec_step(void *self, void *state, struct nn_graph *g, struct nn_params *P, const int32_t *ids,
                          int64_t n, struct nn_tensor **logits) {
  struct blk_lm *m = self;
  struct blk_lm_state *s = state;
  *logits = NULL;
  if (s->caches[0].len + n > m->block)
    return nn_fail(NN_ERR_ARG, "decoding: %lld + %lld positions exceed the context of %lld", (long long)s->caches[0].len,
                   (long long)n, (long long)m->block);
  struct nn_tensor *idx = model_index(g, ids, 2, NN_SHAPE(1, n));
  if (!idx) return g->status;
  *logits = m->logits(self, g, P, idx, s->caches);
  if (*logits)
    for (int64_t l = 0; l < m->layers; l++) s->caches[l].len += n;
  return g->status;
}

void blk_lm_dec_reset(void *self, void *state) {
  (void)self;
  struct blk_lm_state *s = state;
  for (int64_t l = 0; l < s->layers; l++) s->caches[l].len = 0;
}

void blk_lm_dec_info(void *self, int64_t *context, int64_t *vocab) {
  struct blk_lm *m = self;
  *context = m->block;
  *vocab = m->vocab;
}

void blk_lm_destroy(void *self) {
  free(((struct blk_lm *)self)->layers_mem);
  free(self);
}
