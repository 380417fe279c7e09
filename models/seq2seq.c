/* seq2seq: the translator of the chapter's §9.3 prose (its code has the encoder and no decoder).
 *
 *   encoder  source ids (B,S) -> embedding + learned position embedding -> x + dropout(multi-head
 *            self-attention(x), learned Q/K/V/projection, no attention to PAD keys) -> GRU -> enc (B,S,H);
 *            the decoder starts from the encoder GRU's state at the last real source token (EOS)
 *   decoder  GRU over the target embeddings (SOS, y1, y2, ...) from that state; Luong's "general"
 *            attention of every decoder state y_t over enc: c_t = softmax(W_a y_t . enc / sqrt(H),
 *            PAD keys masked) enc; h~_t = tanh(W_c [c_t; y_t]); logits = W_o dropout(h~_t)
 *
 * Luong rather than Bahdanau: the attention reads the decoder state after its GRU step, so with
 * teacher forcing the GRU runs over the whole target in one call and the attention of all steps is
 * one batched (masked) attention op; Bahdanau's attention feeds the GRU's input and forces a loop of
 * small steps. Incremental decoding (translate, evaluation) uses the same function one token at a time.
 *
 * Teacher forcing ratio r (--teacher-forcing): in training, the input of step t > 0 of example b is the
 * reference token with probability r, else the model's own argmax at step t-1; the draw is
 * nn_rng_uniform(seed, S2S_TF_STREAM, step, (global example index) * L + t), so np=2 gives the same as
 * np=1. r = 1 (and evaluation) runs the decoder over the whole target at once. --reverse 1 translates
 * the dataset's target side into its source side (French -> English on eng-fra). A batch runs on
 * task_s2s_width positions (its global batch's longest sentence), not max_len: the masks make the
 * result independent of padding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "blocks.h"
#include "model.h"
#include "nn_rng.h"

#define S2S_TF_STREAM 9 /* nn_rng stream of the teacher-forcing draws (below NN_RNG_STREAM_OPS) */

struct s2s {
  struct task_s2s_model s2s; /* first: the direction, read by the task and translate */
  struct nn_embedding src_emb, pos_emb, tgt_emb;
  struct blk_mha self_attn;
  struct nn_gru enc, dec;
  struct nn_linear att, concat, out; /* W_a (H,H), W_c (H,2H), W_o (V,H) */
  int64_t H, heads, L, Vs, Vt;
  float dropout, tf;
  int pad, sos;
};

static const struct cfg_model_key s2s_key_table[] = {
    {"hidden", CFG_T_INT, 0, 1e7, NULL, "0", "hidden size (0 = preset)"},
    {"n_head", CFG_T_INT, 0, 1e4, NULL, "0", "attention heads (0 = preset)"},
    {"teacher_forcing", CFG_T_FLOAT, 0, 1, NULL, "0.5", "seq2seq: probability of feeding the reference token (else the model's own) to the decoder"},
    {"reverse", CFG_T_INT, 0, 1, NULL, "0", "seq2seq: 1 = translate the dataset's target side into its source side (French -> English)"},
    {"bucket", CFG_T_INT, 0, 1e6, NULL, "100", "seq2seq: group batches by length, sorting windows of this many global batches (0 = plain random batches)"},
};
static const struct cfg_keyset s2s_keys = {"seq2seq", s2s_key_table, (int)(sizeof s2s_key_table / sizeof s2s_key_table[0])};

static void s2s_preset(struct cfg *c) {
  cfg_preset_int(c, "hidden", 256);
  cfg_preset_int(c, "n_head", 4);
  if (!cfg_given(c, "lr")) c->lr = 1e-3;
  if (!cfg_given(c, "optimizer")) strcpy(c->optimizer, "adam");
  if (!cfg_given(c, "weight_decay")) c->weight_decay = 0;
  if (!cfg_given(c, "clip")) c->clip = 1;
  if (!cfg_given(c, "schedule")) strcpy(c->schedule, "const");
  if (!cfg_given(c, "dropout")) c->dropout = 0.1;
  if (!cfg_given(c, "batch")) c->batch = 64;
  if (!cfg_given(c, "epochs") && !cfg_given(c, "steps")) c->epochs = 10;
}

static nn_status s2s_build(void **self, const struct cfg *c, const struct ds_meta *m, struct nn_params *P) {
  if (m->kind != DS_PAIRS)
    return nn_fail(NN_ERR_ARG, "--model seq2seq needs a dataset of sentence pairs (attn_data convert pairs), not %s",
                   m->kind == DS_TEXT ? "text" : "images");
  int64_t H = cfg_int(c, "hidden"), heads = cfg_int(c, "n_head");
  if (H % heads != 0)
    return nn_fail(NN_ERR_ARG, "--hidden %lld must split into --n-head %lld heads", (long long)H, (long long)heads);
  if (m->max_len < 1) return nn_fail(NN_ERR_FORMAT, "dataset %s: pair length %lld", m->id, (long long)m->max_len);
  struct s2s *n = calloc(1, sizeof *n);
  if (!n) return nn_fail(NN_ERR_OOM, "out of memory");
  n->s2s.reverse = (int)cfg_int(c, "reverse");
  n->H = H;
  n->heads = heads;
  n->L = m->max_len;
  n->Vs = n->s2s.reverse ? m->tgt_vocab_size : m->src_vocab_size;
  n->Vt = n->s2s.reverse ? m->src_vocab_size : m->tgt_vocab_size;
  n->dropout = (float)c->dropout;
  n->tf = (float)cfg_float(c, "teacher_forcing");
  n->pad = m->pad_id;
  n->sos = m->sos_id;
  struct nn_scope root = nn_scope_root(P), e = nn_scope_sub(root, "encoder"), d = nn_scope_sub(root, "decoder");
  n->src_emb = nn_embedding_decl(e, "embed", n->Vs, H);
  n->pos_emb = nn_embedding_decl(e, "pos", n->L, H);
  n->self_attn = blk_mha_decl(e, "attn", H, (int)heads, NN_BIAS);
  n->enc = nn_gru_decl(e, "gru", H, H, 1, 0, NN_BIAS);
  n->tgt_emb = nn_embedding_decl(d, "embed", n->Vt, H);
  n->dec = nn_gru_decl(d, "gru", H, H, 1, 0, NN_BIAS);
  n->att = nn_linear_decl(d, "attn", H, H, 0);
  n->concat = nn_linear_decl(d, "concat", 2 * H, H, NN_BIAS);
  n->out = nn_linear_decl(d, "out", H, n->Vt, NN_BIAS);
  *self = n;
  return NN_OK;
}

/* enc(B,S,H) of src(B,S) with key mask kmask(B,S); *h0 (1,B,H) = the GRU state at position last[b]. */
static struct nn_tensor *s2s_encode(struct s2s *n, struct nn_graph *g, struct nn_params *P, struct nn_tensor *src,
                                    struct nn_tensor *kmask, const int32_t *last, struct nn_tensor **h0) {
  int64_t B = src->shape[0], S = src->shape[1];
  int32_t *pos = nn_arena_alloc(&g->meta, sizeof(int32_t) * (size_t)S);
  float *sel = nn_arena_alloc(&g->meta, sizeof(float) * (size_t)(B * S));
  struct nn_tensor *selt = nn_new(g, NN_F32, 3, NN_SHAPE(B, 1, S));
  if (!pos || !sel || !selt) return NULL;
  for (int64_t s = 0; s < S; s++) pos[s] = (int32_t)s;
  for (int64_t i = 0; i < B * S; i++) sel[i] = (i % S) == last[i / S] ? 1.0f : 0.0f;
  nn_be_to_device(g->be, selt->data, sel, sizeof(float) * (size_t)(B * S));
  struct nn_tensor *x = nn_add(g, nn_embedding_fwd(g, P, &n->src_emb, src),
                               nn_embedding_fwd(g, P, &n->pos_emb, model_index(g, pos, 1, NN_SHAPE(S))));
  x = nn_dropout(g, x, n->dropout);
  const struct blk_mha *a = &n->self_attn;
  struct nn_tensor *y = nn_attention_masked(g, nn_linear_fwd(g, P, &a->query, x), nn_linear_fwd(g, P, &a->key, x),
                                            nn_linear_fwd(g, P, &a->value, x), a->heads, 0, n->dropout, kmask);
  if (y) nn_probe(g, "encoder.attn", g->attn_probs); /* attention maps (attn_train attention); no probe: a pointer test */
  x = nn_add(g, x, nn_dropout(g, nn_linear_fwd(g, P, &a->proj, y), n->dropout));
  struct nn_tensor *enc = nn_gru_fwd(g, P, &n->enc, x, NULL, NULL);
  *h0 = nn_reshape(g, nn_matmul(g, selt, enc, 0, 0), 3, NN_SHAPE(1, B, n->H));
  return enc;
}

/* logits(B,T,Vt) of decoder inputs ids(B,T) from state h(1,B,H) over enc(B,S,H) (kmask (B,S));
 * *hn (1,B,H) the state after them. */
static struct nn_tensor *s2s_decode(struct s2s *n, struct nn_graph *g, struct nn_params *P, struct nn_tensor *enc,
                                    struct nn_tensor *kmask, struct nn_tensor *h, struct nn_tensor *ids,
                                    struct nn_tensor **hn) {
  struct nn_tensor *e = nn_dropout(g, nn_embedding_fwd(g, P, &n->tgt_emb, ids), n->dropout);
  struct nn_tensor *y = nn_gru_fwd(g, P, &n->dec, e, h, hn);
  struct nn_tensor *c = nn_attention_masked(g, nn_linear_fwd(g, P, &n->att, y), enc, enc, 1, 0, 0, kmask);
  if (c) nn_probe(g, "decoder.attn", g->attn_probs); /* the source x target alignment (attn_train attention) */
  struct nn_tensor *ht = nn_tanh(g, nn_linear_fwd(g, P, &n->concat, nn_concat(g, 2, (struct nn_tensor *[]){c, y}, 2)));
  return nn_linear_fwd(g, P, &n->out, nn_dropout(g, ht, n->dropout));
}

static nn_status s2s_forward(void *self, struct nn_graph *g, struct nn_params *P, const struct ds_batch *b,
                             struct model_out *out) {
  struct s2s *n = self;
  struct ds_batch bb;
  int64_t W = task_s2s_width(b, n->pad, n->L); /* positions run: the batch's longest sentence */
  NN_TRY(task_s2s_compact(g, b, n->L, W, &bb));
  if (n->s2s.reverse) {
    int32_t *t = bb.src;
    bb.src = bb.tgt, bb.tgt = t;
  }
  struct ds_meta m = {.pad_id = n->pad, .sos_id = n->sos};
  struct task_s2s_batch s;
  NN_TRY(task_s2s_batch(g, &bb, &m, W, &s));
  int64_t B = s.n, L = s.L;
  int32_t *last = nn_arena_alloc(&g->meta, sizeof(int32_t) * (size_t)B);
  if (!last) return nn_fail(NN_ERR_OOM, "out of memory");
  for (int64_t i = 0; i < B; i++) last[i] = s.src_len[i] > 0 ? s.src_len[i] - 1 : 0;
  struct nn_tensor *h = NULL, *enc = s2s_encode(n, g, P, s.src, s.src_mask, last, &h), *logits = NULL;
  if (!enc || !h) return g->status;
  if (!g->training || n->tf >= 1.0f) {
    logits = s2s_decode(n, g, P, enc, s.src_mask, h, s.dec_in, NULL);
  } else { /* step by step: each input the reference or the previous step's argmax */
    struct nn_tensor **steps = nn_arena_alloc(&g->meta, sizeof *steps * (size_t)L);
    int32_t *in = nn_arena_alloc(&g->meta, sizeof(int32_t) * (size_t)(B * L));
    const int32_t *ref = bb.tgt;
    float *row = malloc(sizeof(float) * (size_t)n->Vt);
    if (!steps || !in || !row) {
      free(row);
      return nn_fail(NN_ERR_OOM, "out of memory");
    }
    for (int64_t t = 0; t < L && g->status == NN_OK; t++) {
      for (int64_t i = 0; i < B; i++) {
        int32_t *x = in + t * B + i;
        uint64_t key = (uint64_t)(g->sample_base + i * g->sample_stride) * (uint64_t)n->L + (uint64_t)t;
        if (t == 0) *x = n->sos;
        else if (nn_rng_uniform(g->seed, S2S_TF_STREAM, (uint64_t)g->step, key) < n->tf) *x = ref[i * L + t - 1];
        else { /* the model's own prediction at step t-1 */
          nn_be_to_host(g->be, row, steps[t - 1]->data + i * n->Vt, sizeof(float) * (size_t)n->Vt);
          int32_t best = 0;
          for (int32_t v = 1; v < n->Vt; v++)
            if (row[v] > row[best]) best = v;
          *x = best;
        }
      }
      struct nn_tensor *ids = model_index(g, in + t * B, 2, NN_SHAPE(B, 1));
      steps[t] = ids ? s2s_decode(n, g, P, enc, s.src_mask, h, ids, &h) : NULL;
      if (!steps[t]) break;
    }
    free(row);
    if (g->status != NN_OK) return g->status;
    logits = steps[0];
    for (int64_t t = 1; t < L; t++) logits = nn_concat(g, 2, (struct nn_tensor *[]){logits, steps[t]}, 1);
  }
  out->loss = nn_cross_entropy(g, logits, s.targets, TASK_IGNORE);
  out->logits = NULL;
  out->count = s.ntok;
  return g->status;
}

/* ---- decoding state: the encoder states of one source sentence and the decoder's GRU state ---- */
struct s2s_state {
  const struct nn_backend *be;
  float *enc, *mask, *h, *h0; /* (S,H), (S), (H), (H) backend memory */
  int64_t S;
};

static void s2s_dec_free(void *self, void *state) {
  (void)self;
  struct s2s_state *s = state;
  if (!s) return;
  nn_be_free(s->be, s->enc);
  nn_be_free(s->be, s->mask);
  nn_be_free(s->be, s->h);
  nn_be_free(s->be, s->h0);
  free(s);
}

/* a tensor header over backend memory held outside the graph */
static struct nn_tensor *s2s_wrap(struct nn_graph *g, float *buf, int ndim, const int64_t *shape) {
  struct nn_tensor *t = nn_new(g, NN_F32, 0, NULL);
  if (!t) return NULL;
  nn_tensor_set_shape(t, ndim, shape);
  t->data = buf;
  return t;
}

static nn_status s2s_dec_open(void *self, struct nn_graph *g, struct nn_params *P, const int32_t *cond, int64_t ncond,
                              void **state) {
  struct s2s *n = self;
  *state = NULL;
  if (ncond < 1) return nn_fail(NN_ERR_ARG, "translation: empty source sentence");
  if (ncond > n->L)
    return nn_fail(NN_ERR_ARG, "translation: the source sentence has %lld tokens (EOS included), more than the model's maximum of %lld",
                   (long long)ncond, (long long)n->L);
  for (int64_t i = 0; i < ncond; i++)
    if (cond[i] < 0 || cond[i] >= n->Vs)
      return nn_fail(NN_ERR_ARG, "translation: source id %d outside the vocabulary of %lld", cond[i], (long long)n->Vs);
  struct s2s_state *s = calloc(1, sizeof *s);
  if (!s) return nn_fail(NN_ERR_OOM, "out of memory for the decoding state");
  s->be = g->be;
  s->S = ncond;
  size_t fh = sizeof(float) * (size_t)n->H;
  s->enc = nn_be_alloc(g->be, fh * (size_t)ncond);
  s->mask = nn_be_alloc(g->be, sizeof(float) * (size_t)ncond);
  s->h = nn_be_alloc(g->be, fh);
  s->h0 = nn_be_alloc(g->be, fh);
  if (!s->enc || !s->mask || !s->h || !s->h0) {
    s2s_dec_free(self, s);
    return nn_fail(NN_ERR_OOM, "out of memory for the decoding state");
  }
  nn_be_fill(g->be, s->mask, 1.0f, ncond);
  int32_t last = (int32_t)(ncond - 1);
  struct nn_tensor *h0 = NULL, *src = model_index(g, cond, 2, NN_SHAPE(1, ncond));
  struct nn_tensor *mask = s2s_wrap(g, s->mask, 2, NN_SHAPE(1, ncond));
  struct nn_tensor *enc = src && mask ? s2s_encode(n, g, P, src, mask, &last, &h0) : NULL;
  if (!enc || !h0) {
    s2s_dec_free(self, s);
    return g->status != NN_OK ? g->status : nn_fail(NN_ERR_OOM, "out of memory");
  }
  nn_be_copy(g->be, s->enc, enc->data, fh * (size_t)ncond);
  nn_be_copy(g->be, s->h0, h0->data, fh);
  nn_be_copy(g->be, s->h, h0->data, fh);
  *state = s;
  return NN_OK;
}

static nn_status s2s_dec_step(void *self, void *state, struct nn_graph *g, struct nn_params *P, const int32_t *ids,
                              int64_t n_ids, struct nn_tensor **logits) {
  struct s2s *n = self;
  struct s2s_state *s = state;
  *logits = NULL;
  for (int64_t i = 0; i < n_ids; i++)
    if (ids[i] < 0 || ids[i] >= n->Vt)
      return nn_fail(NN_ERR_ARG, "translation: target id %d outside the vocabulary of %lld", ids[i], (long long)n->Vt);
  struct nn_tensor *enc = s2s_wrap(g, s->enc, 3, NN_SHAPE(1, s->S, n->H));
  struct nn_tensor *mask = s2s_wrap(g, s->mask, 2, NN_SHAPE(1, s->S));
  struct nn_tensor *h = s2s_wrap(g, s->h, 3, NN_SHAPE(1, 1, n->H));
  struct nn_tensor *idx = model_index(g, ids, 2, NN_SHAPE(1, n_ids)), *hn = NULL;
  if (!enc || !mask || !h || !idx) return g->status;
  *logits = s2s_decode(n, g, P, enc, mask, h, idx, &hn);
  if (!*logits || !hn) return g->status;
  nn_be_copy(g->be, s->h, hn->data, sizeof(float) * (size_t)n->H);
  return NN_OK;
}

static void s2s_dec_reset(void *self, void *state) {
  struct s2s *n = self;
  struct s2s_state *s = state;
  nn_be_copy(s->be, s->h, s->h0, sizeof(float) * (size_t)n->H);
}

static void s2s_dec_info(void *self, int64_t *context, int64_t *vocab) {
  struct s2s *n = self;
  *context = 0; /* recurrent: no position limit */
  *vocab = n->Vt;
}

static void s2s_destroy(void *self) { free(self); }

const struct model_def model_seq2seq = {
    .name = "seq2seq",
    .summary = "translator (§9.3): embeddings + positions + masked multi-head self-attention + GRU encoder, GRU decoder with Luong attention; hidden 256, 4 heads, batch 64, Adam 1e-3, teacher forcing 0.5",
    .task = &task_seq2seq,
    .keys = &s2s_keys,
    .preset = s2s_preset,
    .build = s2s_build,
    .forward = s2s_forward,
    .dec_open = s2s_dec_open,
    .dec_step = s2s_dec_step,
    .dec_reset = s2s_dec_reset,
    .dec_free = s2s_dec_free,
    .dec_info = s2s_dec_info,
    .destroy = s2s_destroy,
};
