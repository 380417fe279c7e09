/* lstm-attn: the chapter's character model (§9.3): one-hot characters, an LSTM (hidden 256 per
 * direction, dropout 0.3 between layers), single-head self-attention over the LSTM's outputs with
 * learned query/key/value (and output) projections, dropout, a linear layer to the vocabulary.
 * The chapter's two slips are fixed: its attention drew fresh random Q/K/V matrices on every call
 * (ours are parameters), and its bidirectional LSTM saw the next character through the backward
 * direction (ours is forward with causal attention by default: a language-model loss;
 * --bidirectional 1 reproduces the chapter's model, which cannot generate).
 * Decoding state: the LSTM's (h, c) per layer plus the attention's key/value cache: one LSTM step
 * per new character. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "blocks.h"
#include "model.h"

static const struct cfg_model_key lstm_key_table[] = {
    {"hidden", CFG_T_INT, 0, 1e6, NULL, "0", "recurrent hidden size per direction (0 = preset)"},
    {"layers", CFG_T_INT, 0, NN_RNN_MAX_LAYERS, NULL, "0", "recurrent layers (0 = preset)"},
    {"bidirectional", CFG_T_INT, 0, 1, NULL, "0", "lstm-attn: 1 = the chapter's bidirectional LSTM + full attention (no generation)"},
    {"block", CFG_T_INT, 0, 1e7, NULL, "0", "context length in tokens (0 = preset)"},
    {"sample_chars", CFG_T_INT, 0, 1e6, NULL, "200", "lstm-attn: characters sampled after every epoch (rank 0; 0 = none)"},
    {"sample_temperature", CFG_T_FLOAT, 0, 100, NULL, "0.8", "lstm-attn: temperature of the samples after every epoch"},
};
static const struct cfg_keyset lstm_keys = {"lstm-attn", lstm_key_table,
                                            (int)(sizeof lstm_key_table / sizeof lstm_key_table[0])};

struct lstm_attn {
  struct nn_lstm lstm;
  struct blk_mha attn;
  struct nn_linear out;
  int64_t vocab, hidden, layers, dirs, block, width;
  float dropout;
};

static void lstm_attn_preset(struct cfg *c) {
  cfg_preset_int(c, "hidden", 256);
  cfg_preset_int(c, "layers", 1);
  cfg_preset_int(c, "block", 180);
  if (!cfg_given(c, "lr")) c->lr = 0.01;
  if (!cfg_given(c, "optimizer")) strcpy(c->optimizer, "adam");
  if (!cfg_given(c, "weight_decay")) c->weight_decay = 0;
  if (!cfg_given(c, "batch")) c->batch = 256;
  if (!cfg_given(c, "dropout")) c->dropout = 0.3;
  if (!cfg_given(c, "clip")) c->clip = 0; /* the chapter clamps by value, not by norm */
  if (!cfg_given(c, "clip_value")) c->clip_value = 5;
  if (!cfg_given(c, "schedule")) strcpy(c->schedule, "exp"); /* lr x 0.95 after every epoch */
  if (!cfg_given(c, "gamma")) c->gamma = 0.95;
  if (!cfg_given(c, "epochs") && !cfg_given(c, "steps")) c->epochs = 3;
}

static nn_status lstm_attn_build(void **self, const struct cfg *c, const struct ds_meta *m, struct nn_params *P) {
  if (m->vocab_size < 1) return nn_fail(NN_ERR_ARG, "lstm-attn: the dataset has no vocabulary (a text dataset is needed)");
  struct lstm_attn *n = calloc(1, sizeof *n);
  if (!n) return nn_fail(NN_ERR_OOM, "out of memory");
  n->vocab = m->vocab_size;
  n->hidden = cfg_int(c, "hidden");
  n->layers = cfg_int(c, "layers");
  n->dirs = cfg_int(c, "bidirectional") ? 2 : 1;
  n->block = cfg_int(c, "block");
  n->width = n->dirs * n->hidden;
  n->dropout = (float)c->dropout;
  struct nn_scope root = nn_scope_root(P);
  n->lstm = nn_lstm_decl(root, "lstm", n->vocab, n->hidden, n->layers, n->dropout,
                         NN_BIAS | (n->dirs == 2 ? NN_BIDIR : 0));
  n->attn = blk_mha_decl(root, "attn", n->width, 1, NN_BIAS);
  n->out = nn_linear_decl(root, "out", n->width, n->vocab, NN_BIAS);
  *self = n;
  return NN_OK;
}

/* One-hot characters x(B,T,V) of ids (host, B*T). */
static struct nn_tensor *one_hot(struct nn_graph *g, const int32_t *ids, int64_t B, int64_t T, int64_t V) {
  struct nn_tensor *x = nn_new(g, NN_F32, 3, NN_SHAPE(B, T, V));
  float *host = nn_arena_alloc(&g->meta, sizeof(float) * (size_t)(B * T * V));
  if (!x || !host) return NULL;
  memset(host, 0, sizeof(float) * (size_t)(B * T * V));
  for (int64_t i = 0; i < B * T; i++) host[i * V + ids[i]] = 1.0f;
  nn_be_to_device(g->be, x->data, host, sizeof(float) * (size_t)(B * T * V));
  return x;
}

/* logits(B,T,V) of the one-hot input x(B,T,V); with a decoding state: h0/c0 in, hn/cn out and the
 * attention's cache. */
static struct nn_tensor *lstm_attn_logits(struct lstm_attn *n, struct nn_graph *g, struct nn_params *P,
                                          struct nn_tensor *x, struct nn_tensor *h0, struct nn_tensor *c0,
                                          struct nn_tensor **hn, struct nn_tensor **cn, struct blk_kv_cache *cache) {
  struct nn_tensor *y = nn_lstm_fwd(g, P, &n->lstm, x, h0, c0, hn, cn);
  struct nn_tensor *a = blk_mha_fwd(g, P, &n->attn, y, n->dirs == 1, 0.0f, cache);
  return nn_linear_fwd(g, P, &n->out, nn_dropout(g, a, n->dropout));
}

static nn_status lstm_attn_forward(void *self, struct nn_graph *g, struct nn_params *P, const struct ds_batch *b,
                                   struct model_out *out) {
  struct lstm_attn *n = self;
  int64_t B = b->n, T = n->block, V = n->vocab;
  /* windows of T+1 tokens: inputs [:, :T], targets [:, 1:] */
  int32_t *in = nn_arena_alloc(&g->meta, sizeof(int32_t) * (size_t)(B * T));
  if (!in) return nn_fail(NN_ERR_OOM, "out of memory");
  for (int64_t i = 0; i < B; i++)
    for (int64_t t = 0; t < T; t++) in[i * T + t] = (int32_t)b->tokens[i * (T + 1) + t];
  struct nn_tensor *idx, *tgt;
  blk_text_io(g, b, T, &idx, &tgt);
  struct nn_tensor *x = one_hot(g, in, B, T, V);
  if (!idx || !x) return g->status;
  out->logits = lstm_attn_logits(n, g, P, x, NULL, NULL, NULL, NULL, NULL); /* (B,T,V): the parity test reads it */
  out->loss = nn_cross_entropy(g, out->logits, tgt, -100);
  out->count = B * T;
  return g->status;
}

/* ---- decoding state: (h, c) of every layer (backend memory) and the attention's cache ---- */
struct lstm_attn_state {
  const struct nn_backend *be;
  float *h, *c; /* (layers, 1, H) each */
  struct blk_kv_cache cache;
};

static void lstm_attn_dec_free(void *self, void *state) {
  (void)self;
  struct lstm_attn_state *s = state;
  if (!s) return;
  if (s->h) nn_be_free(s->be, s->h);
  if (s->c) nn_be_free(s->be, s->c);
  blk_kv_cache_free(&s->cache, s->be);
  free(s);
}

static void lstm_attn_dec_reset(void *self, void *state) {
  struct lstm_attn *n = self;
  struct lstm_attn_state *s = state;
  nn_be_fill(s->be, s->h, 0.0f, n->layers * n->hidden);
  nn_be_fill(s->be, s->c, 0.0f, n->layers * n->hidden);
  s->cache.len = 0;
}

static nn_status lstm_attn_dec_open(void *self, struct nn_graph *g, struct nn_params *P, const int32_t *cond,
                                    int64_t ncond, void **state) {
  (void)P;
  (void)cond;
  struct lstm_attn *n = self;
  *state = NULL;
  if (ncond > 0) return nn_fail(NN_ERR_ARG, "lstm-attn: a language model takes no conditioning input");
  if (n->dirs == 2)
    return nn_fail(NN_ERR_ARG,
                   "lstm-attn: this model was trained with --bidirectional 1: its backward direction reads the "
                   "characters after each position (so its loss is not a language-model loss) and it cannot "
                   "generate text left to right; train with --bidirectional 0 (the default) to generate");
  struct lstm_attn_state *s = calloc(1, sizeof *s);
  if (!s) return nn_fail(NN_ERR_OOM, "out of memory for the decoding state");
  s->be = g->be;
  size_t bytes = sizeof(float) * (size_t)(n->layers * n->hidden);
  s->h = nn_be_alloc(g->be, bytes);
  s->c = nn_be_alloc(g->be, bytes);
  nn_status st = s->h && s->c ? blk_kv_cache_init(&s->cache, g->be, n->block, n->width)
                              : nn_fail(NN_ERR_OOM, "out of memory for the decoding state");
  if (st != NN_OK) {
    lstm_attn_dec_free(self, s);
    return st;
  }
  lstm_attn_dec_reset(self, s);
  *state = s;
  return NN_OK;
}

static nn_status lstm_attn_dec_step(void *self, void *state, struct nn_graph *g, struct nn_params *P,
                                    const int32_t *ids, int64_t len, struct nn_tensor **logits) {
  struct lstm_attn *n = self;
  struct lstm_attn_state *s = state;
  *logits = NULL;
  if (s->cache.len + len > n->block)
    return nn_fail(NN_ERR_ARG, "decoding: %lld + %lld positions exceed the context of %lld", (long long)s->cache.len,
                   (long long)len, (long long)n->block);
  for (int64_t i = 0; i < len; i++)
    if (ids[i] < 0 || ids[i] >= n->vocab)
      return nn_fail(NN_ERR_ARG, "decoding: token id %d outside the vocabulary of %lld", ids[i], (long long)n->vocab);
  int64_t LH = n->layers * n->hidden;
  struct nn_tensor *x = one_hot(g, ids, 1, len, n->vocab);
  struct nn_tensor *h0 = nn_new(g, NN_F32, 3, NN_SHAPE(n->layers, 1, n->hidden));
  struct nn_tensor *c0 = nn_new(g, NN_F32, 3, NN_SHAPE(n->layers, 1, n->hidden));
  if (!x || !h0 || !c0) return g->status;
  nn_be_copy(g->be, h0->data, s->h, sizeof(float) * (size_t)LH);
  nn_be_copy(g->be, c0->data, s->c, sizeof(float) * (size_t)LH);
  struct nn_tensor *hn = NULL, *cn = NULL;
  *logits = lstm_attn_logits(n, g, P, x, h0, c0, &hn, &cn, &s->cache);
  if (!*logits || !hn || !cn) return g->status;
  nn_be_copy(g->be, s->h, hn->data, sizeof(float) * (size_t)LH);
  nn_be_copy(g->be, s->c, cn->data, sizeof(float) * (size_t)LH);
  s->cache.len += len;
  return g->status;
}

static void lstm_attn_dec_info(void *self, int64_t *context, int64_t *vocab) {
  struct lstm_attn *n = self;
  *context = n->block; /* the attention's window: as in training, a restart begins from a zero state */
  *vocab = n->vocab;
}

/* An id drawn from softmax(logits / temp) with the uniform u in [0,1) (argmax when temp is 0). */
static int32_t sample_id(const float *logits, int64_t V, double temp, float u) {
  int64_t best = 0;
  for (int64_t v = 1; v < V; v++)
    if (logits[v] > logits[best]) best = v;
  if (temp <= 0) return (int32_t)best;
  double sum = 0, acc = 0;
  for (int64_t v = 0; v < V; v++) sum += exp((logits[v] - logits[best]) / temp);
  for (int64_t v = 0; v < V; v++) {
    acc += exp((logits[v] - logits[best]) / temp) / sum;
    if ((double)u < acc) return (int32_t)v;
  }
  return (int32_t)best;
}

/* After every epoch: a sample of sample_chars characters at sample_temperature (rank 0). */
static nn_status lstm_attn_epoch_end(const struct task_model *m, const struct cfg *c, int64_t epoch, int rank) {
  struct lstm_attn *n = m->self;
  int64_t len = cfg_int(c, "sample_chars");
  if (rank != 0 || len <= 0 || n->dirs == 2 || !m->meta || m->meta->vocab_size != n->vocab) return NN_OK;
  double temp = cfg_float(c, "sample_temperature");
  struct nn_graph *g = m->g;
  int training = g->training, grad = g->grad_enabled;
  g->training = 0;
  g->grad_enabled = 0;
  void *state = NULL;
  nn_graph_reset(g);
  nn_status st = lstm_attn_dec_open(n, g, m->P, NULL, 0, &state);
  float *probs = malloc(sizeof(float) * (size_t)n->vocab);
  int32_t id = 0; /* start from the newline character when the vocabulary has one */
  for (int i = 0; i < n->vocab; i++)
    if (strcmp(m->meta->vocab[i], "\n") == 0) id = i;
  if (st == NN_OK && !probs) st = nn_fail(NN_ERR_OOM, "out of memory");
  if (st == NN_OK) printf("sample after epoch %lld (temperature %.2g):\n", (long long)epoch, temp);
  for (int64_t i = 0; st == NN_OK && i < len; i++) {
    if (((struct lstm_attn_state *)state)->cache.len == n->block) lstm_attn_dec_reset(n, state); /* a new window */
    nn_graph_reset(g);
    struct nn_tensor *logits = NULL;
    st = lstm_attn_dec_step(n, state, g, m->P, &id, 1, &logits);
    if (st != NN_OK) break;
    nn_be_to_host(g->be, probs, logits->data, sizeof(float) * (size_t)n->vocab);
    id = sample_id(probs, n->vocab, temp, nn_rng_uniform((uint64_t)c->seed, 7, (uint64_t)epoch, (uint64_t)i));
    fputs(m->meta->vocab[id], stdout);
  }
  if (st == NN_OK) printf("\n");
  fflush(stdout);
  free(probs);
  lstm_attn_dec_free(n, state);
  nn_graph_reset(g);
  g->training = training;
  g->grad_enabled = grad;
  return st;
}

static void lstm_attn_destroy(void *self) { free(self); }

const struct model_def model_lstm_attn = {
    .name = "lstm-attn",
    .summary = "the chapter's character LSTM + learned self-attention: hidden 256, seq 180, batch 256, Adam 0.01",
    .task = &task_lm,
    .keys = &lstm_keys,
    .preset = lstm_attn_preset,
    .build = lstm_attn_build,
    .forward = lstm_attn_forward,
    .dec_open = lstm_attn_dec_open,
    .dec_step = lstm_attn_dec_step,
    .dec_reset = lstm_attn_dec_reset,
    .dec_free = lstm_attn_dec_free,
    .dec_info = lstm_attn_dec_info,
    .epoch_end = lstm_attn_epoch_end,
    .destroy = lstm_attn_destroy,
};
