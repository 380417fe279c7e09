/* task: what the trainer needs to know about a kind of learning problem, between train.c and the
 * models (docs/arch/tasks.md). A task fixes the dataset kind, how examples are drawn for training
 * and evaluation, which metrics are reported (progress line, metrics.jsonl) and what an export must
 * carry to be used without the dataset. train.c calls only these hooks: it names no dataset kind.
 *
 *   task_classification  image examples -> labels: loss, accuracy; ex/s
 *   task_feature_classification  feature rows (attn_train features) -> labels: the same metrics
 *   task_lm              text windows of block+1 tokens -> next token: loss, perplexity; tok/s
 *   task_seq2seq         sentence pairs (src, tgt) -> tgt: loss over non-PAD tokens, corpus BLEU-4; tok/s */
#ifndef TASK_H
#define TASK_H
#include <stdio.h>
#include "cfg.h"
#include "ds.h"
#include "nn.h"

struct model_def;
struct model_out;

/* Slots of a metric accumulator, summed over batches and ranks (one allreduce). */
enum { TASK_LOSS_SUM, TASK_COUNT, TASK_EXTRA, TASK_NACC = 16 };

/* What an evaluation hook may use: the model and its parameters, the graph, the split's metadata. */
struct task_model {
  const struct model_def *def;
  void *self;
  struct nn_params *P;
  struct nn_graph *g;
  const struct ds_meta *meta;
};

/* Host buffers of one batch of at most `cap` examples of `len` tokens (task_batch_alloc). */
struct task_batch {
  struct ds_batch b;
  int64_t cap, len;
};

struct task {
  const char *name;        /* "classification", "lm", "seq2seq" */
  enum ds_kind data_kind;  /* the dataset kind it reads */
  const char *unit;        /* progress-line rate unit: "ex/s" or "tok/s" */
  const char *count_name;  /* what TASK_COUNT counts in messages and JSON: "examples" / "tokens" */
  const char *data_unit;   /* what ds_meta.count counts: "examples", "tokens", "pairs" */
  /* tokens per sample for the sampler and loader: text window - 1 (block), pair length (0 = the
   * dataset's max_len), 0 for images */
  int64_t (*sample_len)(const struct cfg *c, const struct ds_meta *m);
  /* evaluation samples of split r (the sampler's count for the same sample_len) */
  int64_t (*eval_count)(struct ds_reader *r, int64_t len);
  /* read evaluation samples idx[0..n) into tb (allocated by task_batch_alloc) */
  nn_status (*eval_read)(struct ds_reader *r, const int64_t *idx, int64_t n, struct task_batch *tb);
  /* add what batch b gave (forward output out) to acc[TASK_EXTRA..]; loss and count are summed by
   * the trainer. training: 1 during training steps, 0 during evaluation. NULL: nothing extra. */
  nn_status (*account)(const struct task_model *m, const struct ds_batch *b, const struct model_out *out,
                       int training, double *acc);
  /* format a report of acc (summed over ranks): json gets ', "key": value' pairs after loss,
   * line gets ' | key value' parts for the console. training: the progress line, else evaluation. */
  void (*report)(const double *acc, int training, const char *split, char *line, size_t llen, char *json, size_t jlen);
  /* 1: out.count differs between ranks (seq2seq: non-PAD target tokens), so the trainer weights each
   * rank's mean loss by count * nranks / (global count) before backward (one scalar allreduce per
   * micro-batch): the gradient is that of the global mean, np=N equals np=1. 0: equal counts. */
  int count_varies;
  /* Length-grouped batches (seq2seq): *keys (malloc'd, n entries; the trainer frees it) gets a sort
   * key per training sample of r (samples of len tokens), *window the sort window in global batches
   * for ds_sampler_set_buckets (0: not grouped; the keys still serve a resume). NULL hook: the
   * DistributedSampler's order. */
  nn_status (*bucket)(const struct cfg *c, struct ds_reader *r, int64_t len, int64_t n, uint32_t **keys,
                      int64_t *window);
};

extern const struct task task_classification, task_lm, task_seq2seq;
/* classification of the rows of a features dataset (attn_train features), for heads such as --model linear */
extern const struct task task_feature_classification;

/* Allocate tb for up to cap samples of data kind m->kind with len tokens (pairs: len = max_len). */
nn_status task_batch_alloc(struct task_batch *tb, const struct ds_meta *m, int64_t cap, int64_t len);
void task_batch_free(struct task_batch *tb);

/* ---- sequence-to-sequence batches (pairs) ----
 * From a pairs batch b (src, tgt each (n, L) padded with pad, EOS included):
 *   src      (n, L) I32   source ids (PAD where the sentence has ended)
 *   src_mask (n, L) F32   1 on real source tokens, 0 on PAD (for attention masks)
 *   dec_in   (n, L) I32   decoder inputs with teacher forcing: SOS, tgt[0..L-2] (PAD after the end)
 *   targets  (n, L) I32   tgt with PAD replaced by TASK_IGNORE (no loss on PAD)
 *   src_len / tgt_len (n) host: real tokens of each sentence (EOS included)
 *   ntok     target tokens that carry loss (the model_out.count of the batch) */
#define TASK_IGNORE (-100)
struct task_s2s_batch {
  struct nn_tensor *src, *src_mask, *dec_in, *targets;
  int32_t *src_len, *tgt_len; /* graph metadata arena: valid until the graph is reset */
  int64_t n, L, ntok;
};
/* The width a batch of pairs (rows of L ids, PAD after each sentence) is padded to: its longest
 * sentence on either side (at least 1), or its global batch's (b->group_key, from the sampler) when
 * that is longer, so every rank pads as one process would (dropout draws are keyed by position
 * within the padded example). Models run on that many positions (task_s2s_compact). */
int64_t task_s2s_width(const struct ds_batch *b, int pad, int64_t L);
/* out (n rows of W, src and tgt in g's metadata arena) = the first W ids of each row of b (rows of L). */
nn_status task_s2s_compact(struct nn_graph *g, const struct ds_batch *b, int64_t L, int64_t W, struct ds_batch *out);
/* Fill s from b on graph g (device tensors; host lengths in g's metadata arena). */
nn_status task_s2s_batch(struct nn_graph *g, const struct ds_batch *b, const struct ds_meta *m, int64_t L,
                         struct task_s2s_batch *s);
/* Host-only part of task_s2s_batch (for tests and models that build their own tensors): every array
 * holds n*L entries (lengths n) and may be NULL. */
int64_t task_s2s_host(const struct ds_batch *b, int pad, int sos, int64_t L, int32_t *dec_in, int32_t *targets,
                      float *src_mask, int32_t *src_len, int32_t *tgt_len);

/* The first member of every seq2seq model's struct: the direction it translates (reverse: the
 * dataset's target side is the source), read by the task's evaluation and by translate. */
struct task_s2s_model {
  int reverse;
};

/* Greedy decoding of one source sentence src[0..n) through the model's decoding state: at most
 * max_len target ids into out (EOS not written); returns their count, or -1 on error (message set). */
int64_t task_s2s_greedy(const struct task_model *m, const int32_t *src, int64_t n, int64_t max_len, int32_t *out);

/* ---- metadata an export needs to decode without the dataset ----
 * The split metadata (kind, vocabularies, special ids, class names, image shape and the
 * normalisation the model applies) as root attributes "data.<name>" of an HDF5 file (exports and
 * checkpoints' meta.h5), <name> as in datasets/FORMAT.md: data.kind, data.dataset_id, data.vocab,
 * data.class_names, data.src_vocab, data.pad_id, ... (attributes: h5py's `for k in f` still lists
 * parameters only). */
/* Write m as root attributes of the open file f (path for messages). Needs the HDF5 lock. */
nn_status task_meta_write(int64_t f /* hid_t */, const char *path, const struct ds_meta *m);
/* Read the data.* attributes of HDF5 file path into m (free with task_meta_free); NN_ERR_FORMAT if absent. */
nn_status task_meta_read(const char *path, struct ds_meta *m);
void task_meta_free(struct ds_meta *m);

#endif
