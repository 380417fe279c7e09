/* task_seq2seq: sentence pairs (datasets kind "pairs") -> target sentences, teacher forcing.
 * Batches: source and target ids padded with PAD to the pair length L, a source mask, decoder
 * inputs SOS + target[:-1] and targets with PAD ignored (task.h, task_s2s_batch). Training reports
 * the loss over non-PAD target tokens; evaluation adds corpus BLEU-4 (src/bleu.c) of greedy
 * translations through the model's decoding state (when the model has one). Rate in target tokens/s.
 * Models put a struct task_s2s_model first (the direction: --reverse swaps the sides).
 * Batches are grouped by length (the bucket hook, --bucket windows; ds_sampler_set_buckets) and each
 * is cut to its longest sentence (task_s2s_width); the progress line reports the padded share. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bleu.h"
#include "model.h"
#include "task.h"

#define BLEU0 TASK_EXTRA
#define SENTENCES (TASK_EXTRA + BLEU_NSTATS)
#define PAD_SLOTS (SENTENCES + 1) /* training: PAD positions of the batches as run (both sides) */
#define ALL_SLOTS (SENTENCES + 2) /* and all positions */
_Static_assert(ALL_SLOTS < TASK_NACC, "task accumulator too small for the BLEU and padding statistics");

static int64_t s2s_sample_len(const struct cfg *c, const struct ds_meta *m) {
  (void)c;
  return m->max_len;
}

static int64_t s2s_eval_count(struct ds_reader *r, int64_t len) { return ds_num_samples(r, len); }

static nn_status s2s_eval_read(struct ds_reader *r, const int64_t *idx, int64_t n, struct task_batch *tb) {
  tb->b.n = n;
  return ds_read_pairs(r, idx, n, tb->b.src, tb->b.tgt, tb->len);
}

static int64_t row_len(const int32_t *row, int64_t L, int pad) {
  int64_t n = 0;
  while (n < L && row[n] != pad) n++;
  return n;
}

int64_t task_s2s_width(const struct ds_batch *b, int pad, int64_t L) {
  int64_t w = (int64_t)(b->group_key / (uint32_t)((L + 1) * (L + 1))); /* the global batch's (s2s_bucket) */
  w = w > L ? L : w < 1 ? 1 : w;
  for (int64_t i = 0; i < b->n; i++) {
    int64_t ns = row_len(b->src + i * L, L, pad), nt = row_len(b->tgt + i * L, L, pad);
    w = ns > w ? ns : w;
    w = nt > w ? nt : w;
  }
  return w;
}

nn_status task_s2s_compact(struct nn_graph *g, const struct ds_batch *b, int64_t L, int64_t W, struct ds_batch *out) {
  *out = *b;
  if (W >= L) return NN_OK;
  int32_t *buf = nn_arena_alloc(&g->meta, sizeof(int32_t) * (size_t)(2 * b->n * W + 1));
  if (!buf) return nn_fail(NN_ERR_OOM, "out of memory for a batch of %lld pairs", (long long)b->n);
  out->src = buf;
  out->tgt = buf + b->n * W;
  for (int64_t i = 0; i < b->n; i++) {
    memcpy(out->src + i * W, b->src + i * L, sizeof(int32_t) * (size_t)W);
    memcpy(out->tgt + i * W, b->tgt + i * L, sizeof(int32_t) * (size_t)W);
  }
  return NN_OK;
}

/* Sort keys of the length grouping: the batch width (longest side) first, then source, then target
 * length. Read in chunks; --bucket (windows of that many global batches, 0 = off). */
static nn_status s2s_bucket(const struct cfg *c, struct ds_reader *r, int64_t len, int64_t n, uint32_t **keys,
                            int64_t *window) {
  *keys = NULL;
  *window = cfg_int(c, "bucket");
  if (n < 1) return NN_OK;
  const struct ds_meta *m = ds_get_meta(r);
  enum { CHUNK = 4096 };
  uint32_t *k = malloc(sizeof(uint32_t) * (size_t)n);
  int64_t *idx = malloc(sizeof(int64_t) * CHUNK);
  int32_t *src = malloc(sizeof(int32_t) * CHUNK * (size_t)len), *tgt = malloc(sizeof(int32_t) * CHUNK * (size_t)len);
  nn_status st = k && idx && src && tgt ? NN_OK : nn_fail(NN_ERR_OOM, "out of memory for the lengths of %lld pairs", (long long)n);
  for (int64_t lo = 0; st == NN_OK && lo < n; lo += CHUNK) {
    int64_t cnt = n - lo < CHUNK ? n - lo : CHUNK;
    for (int64_t i = 0; i < cnt; i++) idx[i] = lo + i;
    st = ds_read_pairs(r, idx, cnt, src, tgt, len);
    for (int64_t i = 0; st == NN_OK && i < cnt; i++) {
      uint32_t ns = (uint32_t)row_len(src + i * len, len, m->pad_id), nt = (uint32_t)row_len(tgt + i * len, len, m->pad_id);
      uint32_t w = ns > nt ? ns : nt, base = (uint32_t)len + 1;
      k[lo + i] = (w * base + ns) * base + nt;
    }
  }
  free(idx);
  free(src);
  free(tgt);
  if (st != NN_OK) {
    free(k);
    return st;
  }
  *keys = k;
  return NN_OK;
}

int64_t task_s2s_host(const struct ds_batch *b, int pad, int sos, int64_t L, int32_t *dec_in, int32_t *targets,
                      float *src_mask, int32_t *src_len, int32_t *tgt_len) {
  int64_t ntok = 0;
  for (int64_t i = 0; i < b->n; i++) {
    const int32_t *s = b->src + i * L, *t = b->tgt + i * L;
    int64_t ns = row_len(s, L, pad), nt = row_len(t, L, pad);
    ntok += nt;
    if (src_len) src_len[i] = (int32_t)ns;
    if (tgt_len) tgt_len[i] = (int32_t)nt;
    for (int64_t j = 0; j < L; j++) {
      if (dec_in) dec_in[i * L + j] = j == 0 ? sos : j < nt ? t[j - 1] : pad;
      if (targets) targets[i * L + j] = j < nt ? t[j] : TASK_IGNORE;
      if (src_mask) src_mask[i * L + j] = j < ns ? 1.0f : 0.0f;
    }
  }
  return ntok;
}

nn_status task_s2s_batch(struct nn_graph *g, const struct ds_batch *b, const struct ds_meta *m, int64_t L,
                         struct task_s2s_batch *s) {
  int64_t n = b->n, nl = n * L;
  memset(s, 0, sizeof *s);
  s->n = n;
  s->L = L;
  int32_t *dec = nn_arena_alloc(&g->meta, sizeof(int32_t) * (size_t)(2 * nl + 2 * n));
  float *mask = nn_arena_alloc(&g->meta, sizeof(float) * (size_t)nl);
  if (!dec || !mask) return nn_fail(NN_ERR_OOM, "out of memory for a batch of %lld pairs", (long long)n);
  int32_t *tgt = dec + nl;
  s->src_len = tgt + nl;
  s->tgt_len = s->src_len + n;
  s->ntok = task_s2s_host(b, m->pad_id, m->sos_id, L, dec, tgt, mask, s->src_len, s->tgt_len);
  s->src = model_index(g, b->src, 2, NN_SHAPE(n, L));
  s->dec_in = model_index(g, dec, 2, NN_SHAPE(n, L));
  s->targets = model_index(g, tgt, 2, NN_SHAPE(n, L));
  s->src_mask = nn_new(g, NN_F32, 2, NN_SHAPE(n, L));
  if (!s->src || !s->dec_in || !s->targets || !s->src_mask) return g->status;
  nn_be_to_device(g->be, s->src_mask->data, mask, sizeof(float) * (size_t)nl);
  return NN_OK;
}

int64_t task_s2s_greedy(const struct task_model *m, const int32_t *src, int64_t n, int64_t max_len, int32_t *out) {
  struct nn_graph *g = m->g;
  void *state = NULL;
  int64_t context = 0, V = 0, len = 0;
  m->def->dec_info(m->self, &context, &V);
  if (context > 0 && max_len > context) max_len = context;
  nn_graph_reset(g);
  if (m->def->dec_open(m->self, g, m->P, src, n, &state) != NN_OK) return -1;
  float *row = malloc(sizeof(float) * (size_t)V);
  int32_t next = m->meta->sos_id;
  nn_status st = row ? NN_OK : nn_fail(NN_ERR_OOM, "out of memory");
  while (st == NN_OK && len < max_len) {
    struct nn_tensor *logits = NULL;
    nn_graph_reset(g);
    st = m->def->dec_step(m->self, state, g, m->P, &next, 1, &logits);
    if (st != NN_OK) break;
    nn_be_to_host(g->be, row, logits->data, sizeof(float) * (size_t)V);
    int64_t best = 0;
    for (int64_t v = 1; v < V; v++)
      if (row[v] > row[best]) best = v;
    if (best == m->meta->eos_id) break;
    out[len++] = next = (int32_t)best;
  }
  free(row);
  m->def->dec_free(m->self, state);
  return st == NN_OK ? len : -1;
}

/* evaluation: BLEU statistics of the greedy translation of every pair of the batch */
static nn_status s2s_account(const struct task_model *m, const struct ds_batch *b, const struct model_out *out,
                             int training, double *acc) {
  (void)out;
  int64_t L = m->meta->max_len;
  if (training) { /* padding of the batch as the model runs it: both sides cut to its longest sentence */
    int64_t W = task_s2s_width(b, m->meta->pad_id, L), real = 0;
    for (int64_t i = 0; i < b->n; i++)
      real += row_len(b->src + i * L, L, m->meta->pad_id) + row_len(b->tgt + i * L, L, m->meta->pad_id);
    acc[ALL_SLOTS] += (double)(2 * b->n * W);
    acc[PAD_SLOTS] += (double)(2 * b->n * W - real);
    return NN_OK;
  }
  if (!m->def->dec_open) return NN_OK;
  int reverse = m->self ? ((const struct task_s2s_model *)m->self)->reverse : 0;
  int32_t *hyp = malloc(sizeof(int32_t) * (size_t)(L > 0 ? L : 1));
  if (!hyp) return nn_fail(NN_ERR_OOM, "out of memory for a translation");
  for (int64_t i = 0; i < b->n; i++) {
    const int32_t *s = (reverse ? b->tgt : b->src) + i * L, *t = (reverse ? b->src : b->tgt) + i * L;
    int64_t ns = row_len(s, L, m->meta->pad_id), nt = row_len(t, L, m->meta->pad_id);
    if (nt > 0 && t[nt - 1] == m->meta->eos_id) nt--; /* the reference without EOS */
    int64_t nh = task_s2s_greedy(m, s, ns, L, hyp);
    if (nh < 0) {
      free(hyp);
      return NN_ERR_ARG;
    }
    bleu_add(acc + BLEU0, hyp, nh, t, nt);
    acc[SENTENCES] += 1;
  }
  free(hyp);
  return NN_OK;
}

static void s2s_report(const double *acc, int training, const char *split, char *line, size_t llen, char *json,
                       size_t jlen) {
  snprintf(line, llen, "%s", "");
  snprintf(json, jlen, "%s", "");
  if (training) {
    if (acc[ALL_SLOTS] <= 0) return;
    snprintf(line, llen, " | pad %.0f%%", 100.0 * acc[PAD_SLOTS] / acc[ALL_SLOTS]);
    snprintf(json, jlen, ", \"pad_fraction\": %.4f", acc[PAD_SLOTS] / acc[ALL_SLOTS]);
    return;
  }
  if (acc[SENTENCES] <= 0) return;
  double bleu = 100.0 * bleu_score(acc + BLEU0);
  snprintf(line, llen, " | %s BLEU %.2f (%lld sentences)", split, bleu, (long long)acc[SENTENCES]);
  snprintf(json, jlen, ", \"bleu\": %.4f, \"sentences\": %lld", bleu, (long long)acc[SENTENCES]);
}

const struct task task_seq2seq = {
    .name = "seq2seq",
    .data_kind = DS_PAIRS,
    .unit = "tok/s",
    .data_unit = "pairs",
    .count_name = "tokens",
    .count_varies = 1,
    .sample_len = s2s_sample_len,
    .eval_count = s2s_eval_count,
    .eval_read = s2s_eval_read,
    .account = s2s_account,
    .report = s2s_report,
    .bucket = s2s_bucket,
};
