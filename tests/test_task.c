/* Tasks: corpus BLEU-4 against hand-computed cases, sequence-to-sequence batches (padding, masks,
 * teacher forcing), greedy decoding + BLEU through a model's decoding state, and the decoding
 * metadata written to / read from an HDF5 file. */
#include <CUnit/Basic.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bleu.h"
#include "ds_h5.h"
#include "model.h"
#include "task.h"

#define NEAR(a, b) CU_ASSERT(fabs((a) - (b)) < 1e-9)

/* "the the the the the the the" vs "the cat is on the mat" (the=1 cat=2 is=3 on=4 mat=5):
 * unigram matches clipped to the reference's 2 "the" (not 7) of 7; no bigram "the the" in the
 * reference: 0 of 6, 0 of 5, 0 of 4; lengths 7 and 6. Any n with no match: BLEU 0. */
static void test_bleu_clip_and_zero(void) {
  int32_t hyp[7] = {1, 1, 1, 1, 1, 1, 1}, ref[6] = {1, 2, 3, 4, 1, 5};
  double s[BLEU_NSTATS] = {0};
  bleu_add(s, hyp, 7, ref, 6);
  const double want[BLEU_NSTATS] = {2, 0, 0, 0, 7, 6, 5, 4, 7, 6};
  for (int i = 0; i < BLEU_NSTATS; i++) NEAR(s[i], want[i]);
  NEAR(bleu_score(s), 0.0);
  /* an empty hypothesis corpus scores 0 (no division by zero) */
  double e[BLEU_NSTATS] = {0};
  bleu_add(e, hyp, 0, ref, 6);
  NEAR(e[2 * BLEU_N + 1], 6);
  NEAR(bleu_score(e), 0.0);
}

/* hyp = ref: every precision 1, same length: BLEU 1. hyp = the first 4 tokens of an 8-token reference:
 * precisions 4/4, 3/3, 2/2, 1/1 but brevity penalty exp(1 - 8/4) = exp(-1). */
static void test_bleu_perfect_and_brevity(void) {
  int32_t ref[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  double s[BLEU_NSTATS] = {0};
  bleu_add(s, ref, 6, ref, 6);
  NEAR(bleu_score(s), 1.0);
  double b[BLEU_NSTATS] = {0};
  bleu_add(b, ref, 4, ref, 8);
  NEAR(b[0], 4);
  NEAR(b[1], 3);
  NEAR(b[2], 2);
  NEAR(b[3], 1);
  NEAR(bleu_score(b), exp(-1.0));
  /* longer than the reference: no penalty; 1 2 3 4 5 6 7 8 9 vs 1..8: p = 8/9, 7/8, 6/7, 5/6 */
  int32_t longer[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  double l[BLEU_NSTATS] = {0};
  bleu_add(l, longer, 9, ref, 8);
  NEAR(bleu_score(l), pow(8.0 / 9 * 7.0 / 8 * 6.0 / 7 * 5.0 / 6, 0.25)); /* = (5/9)^(1/4) */
}

/* Corpus BLEU sums statistics over sentences (it is not the mean of sentence BLEUs):
 *   s1: 1 2 3 4 5 vs 1 2 3 4 5: matches 5/5, 4/4, 3/3, 2/2
 *   s2: 1 2 3 9 5 vs 1 2 3 4 5: unigrams 4/5; bigrams 12 23 39 95 -> 2/4; trigrams 123 239 395 -> 1/3;
 *       4-grams 1239 2395 -> 0/2 (s2 alone scores 0)
 *   corpus: 9/10, 6/8, 4/6, 2/4, lengths 10 = 10: BLEU = (0.9 * 0.75 * 2/3 * 0.5)^(1/4) = 0.225^(1/4). */
static void test_bleu_corpus(void) {
  int32_t r[5] = {1, 2, 3, 4, 5}, h2[5] = {1, 2, 3, 9, 5};
  double s[BLEU_NSTATS] = {0}, only2[BLEU_NSTATS] = {0};
  bleu_add(s, r, 5, r, 5);
  bleu_add(s, h2, 5, r, 5);
  bleu_add(only2, h2, 5, r, 5);
  NEAR(s[0], 9);
  NEAR(s[1], 6);
  NEAR(s[2], 4);
  NEAR(s[3], 2);
  NEAR(s[4], 10);
  NEAR(s[5], 8);
  NEAR(s[6], 6);
  NEAR(s[7], 4);
  NEAR(bleu_score(only2), 0.0);
  NEAR(bleu_score(s), pow(0.225, 0.25));
  CU_ASSERT(fabs(bleu_score(s) - 0.688725) < 1e-6);
}

/* pad 0, sos 1, eos 2, L = 5:
 *   src [5 6 2 0 0]    tgt [11 2 0 0 0]    -> dec_in [1 11 0 0 0], targets [11 2 -100 -100 -100], mask 1 1 1 0 0
 *   src [7 8 9 10 2]   tgt [12 13 14 2 0]  -> dec_in [1 12 13 14 0], targets [12 13 14 2 -100], mask 1 1 1 1 1
 * ntok = 2 + 4 = 6 target tokens with loss. */
static int32_t S2S_SRC[10] = {5, 6, 2, 0, 0, 7, 8, 9, 10, 2}, S2S_TGT[10] = {11, 2, 0, 0, 0, 12, 13, 14, 2, 0};
static const int32_t WANT_DEC[10] = {1, 11, 0, 0, 0, 1, 12, 13, 14, 0};
static const int32_t WANT_TGT[10] = {11, 2, -100, -100, -100, 12, 13, 14, 2, -100};
static const float WANT_MASK[10] = {1, 1, 1, 0, 0, 1, 1, 1, 1, 1};

static void test_s2s_batch(void) {
  struct ds_batch b = {.n = 2, .src = S2S_SRC, .tgt = S2S_TGT};
  int32_t dec[10], tgt[10], sl[2], tl[2];
  float mask[10];
  CU_ASSERT_EQUAL(task_s2s_host(&b, 0, 1, 5, dec, tgt, mask, sl, tl), 6);
  CU_ASSERT(memcmp(dec, WANT_DEC, sizeof dec) == 0);
  CU_ASSERT(memcmp(tgt, WANT_TGT, sizeof tgt) == 0);
  CU_ASSERT(memcmp(mask, WANT_MASK, sizeof mask) == 0);
  CU_ASSERT(sl[0] == 3 && sl[1] == 5 && tl[0] == 2 && tl[1] == 4);
  /* the same on device tensors */
  struct ds_meta m = {.kind = DS_PAIRS, .pad_id = 0, .sos_id = 1, .eos_id = 2, .max_len = 5};
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  struct task_s2s_batch s;
  CU_ASSERT_EQUAL_FATAL(task_s2s_batch(&g, &b, &m, 5, &s), NN_OK);
  CU_ASSERT(s.ntok == 6 && s.n == 2 && s.L == 5);
  CU_ASSERT(s.src->shape[0] == 2 && s.src->shape[1] == 5 && memcmp(s.src->i32, S2S_SRC, sizeof S2S_SRC) == 0);
  CU_ASSERT(memcmp(s.dec_in->i32, WANT_DEC, sizeof WANT_DEC) == 0);
  CU_ASSERT(memcmp(s.targets->i32, WANT_TGT, sizeof WANT_TGT) == 0);
  CU_ASSERT(memcmp(s.src_mask->data, WANT_MASK, sizeof WANT_MASK) == 0);
  CU_ASSERT(s.src_len[1] == 5 && s.tgt_len[0] == 2);
  /* the cross-entropy of uniform logits over the targets counts only the 6 non-PAD tokens: log(V) */
  struct nn_tensor *logits = nn_new(&g, NN_F32, 3, NN_SHAPE(2, 5, 16));
  nn_be_fill(&nn_cpu_backend, logits->data, 0.0f, logits->numel);
  struct nn_tensor *loss = nn_cross_entropy(&g, logits, s.targets, TASK_IGNORE);
  CU_ASSERT_FATAL(loss != NULL);
  CU_ASSERT(fabs(loss->data[0] - log(16.0)) < 1e-5);
  nn_graph_destroy(&g);
}

/* A fake translator: its decoding state is the source sentence; step t predicts src[t] (a copy model).
 * Greedy decoding must stop at EOS, and BLEU of copies of references is 1. */
struct copy_state { int32_t src[16]; int64_t n, t; };
static nn_status copy_open(void *self, struct nn_graph *g, struct nn_params *P, const int32_t *cond, int64_t n, void **st) {
  (void)self, (void)g, (void)P;
  struct copy_state *s = calloc(1, sizeof *s);
  memcpy(s->src, cond, sizeof(int32_t) * (size_t)n);
  s->n = n;
  *st = s;
  return NN_OK;
}
static nn_status copy_step(void *self, void *state, struct nn_graph *g, struct nn_params *P, const int32_t *ids, int64_t n,
                           struct nn_tensor **logits) {
  (void)self, (void)P, (void)ids;
  struct copy_state *s = state;
  *logits = nn_new(g, NN_F32, 3, NN_SHAPE(1, n, 16));
  nn_be_fill(&nn_cpu_backend, (*logits)->data, 0.0f, (*logits)->numel);
  for (int64_t i = 0; i < n; i++, s->t++) (*logits)->data[i * 16 + (s->t < s->n ? s->src[s->t] : 2)] = 1.0f;
  return NN_OK;
}
static void copy_reset(void *self, void *state) { (void)self, ((struct copy_state *)state)->t = 0; }
static void copy_free(void *self, void *state) { (void)self, free(state); }
static void copy_info(void *self, int64_t *context, int64_t *vocab) { (void)self, *context = 0, *vocab = 16; }

static void test_s2s_greedy_bleu(void) {
  const struct model_def def = {.name = "copy", .task = &task_seq2seq, .dec_open = copy_open, .dec_step = copy_step,
                                .dec_reset = copy_reset, .dec_free = copy_free, .dec_info = copy_info};
  struct ds_meta m = {.kind = DS_PAIRS, .pad_id = 0, .sos_id = 1, .eos_id = 2, .max_len = 5};
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  struct task_model tm = {.def = &def, .g = &g, .meta = &m};
  int32_t out[5];
  CU_ASSERT_EQUAL(task_s2s_greedy(&tm, S2S_SRC + 5, 5, 5, out), 4); /* 7 8 9 10, then EOS */
  CU_ASSERT(out[0] == 7 && out[3] == 10);
  /* targets equal to the sources: the copy model scores BLEU 1 (EOS excluded on both sides) */
  int32_t src[10] = {5, 6, 7, 8, 2, 9, 10, 11, 12, 2};
  struct ds_batch b = {.n = 2, .src = src, .tgt = src};
  double acc[TASK_NACC] = {0};
  struct model_out o = {0};
  CU_ASSERT_EQUAL(task_seq2seq.account(&tm, &b, &o, 0, acc), NN_OK);
  char line[256], json[256];
  task_seq2seq.report(acc, 0, "val", line, sizeof line, json, sizeof json);
  CU_ASSERT(strstr(line, "val BLEU 100.00 (2 sentences)") != NULL);
  CU_ASSERT(strstr(json, "\"bleu\": 100.0000") != NULL);
  /* training steps do not decode; they report the padded share of the batch as the model runs it
   * (cut to its longest sentence, 3): 2 pairs x 2 sides x 3 positions, 3 + 2 real per side: 2/12 */
  int32_t shorter[10] = {5, 6, 2, 0, 0, 7, 2, 0, 0, 0};
  struct ds_batch b2 = {.n = 2, .src = shorter, .tgt = shorter};
  double acc2[TASK_NACC] = {0};
  CU_ASSERT_EQUAL(task_s2s_width(&b2, 0, 5), 3);
  CU_ASSERT_EQUAL(task_seq2seq.account(&tm, &b2, &o, 1, acc2), NN_OK);
  task_seq2seq.report(acc2, 1, "train", line, sizeof line, json, sizeof json);
  CU_ASSERT(strstr(line, "pad 17%") != NULL && strstr(line, "BLEU") == NULL);
  CU_ASSERT(strstr(json, "\"pad_fraction\": 0.1667") != NULL);
  nn_graph_destroy(&g);
}

/* The decoding metadata of a pairs and a text dataset survive a write and a read. */
static void test_meta_roundtrip(void) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/test_task_%d.h5", (int)getpid());
  char *src[5] = {"<pad>", "<sos>", "<eos>", "<unk>", "they"}, *tgt[6] = {"<pad>", "<sos>", "<eos>", "<unk>", "ils", "sont"};
  struct ds_meta m = {.kind = DS_PAIRS, .src_vocab_size = 5, .tgt_vocab_size = 6, .src_vocab = src, .tgt_vocab = tgt,
                      .pad_id = 0, .sos_id = 1, .eos_id = 2, .unk_id = 3, .max_len = 10};
  snprintf(m.id, sizeof m.id, "pairs-0123456789abcdef");
  ds_h5_lock();
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  CU_ASSERT_EQUAL(task_meta_write(f, path, &m), NN_OK);
  H5Fclose(f);
  ds_h5_unlock();
  struct ds_meta r;
  CU_ASSERT_EQUAL_FATAL(task_meta_read(path, &r), NN_OK);
  CU_ASSERT(r.kind == DS_PAIRS && r.src_vocab_size == 5 && r.tgt_vocab_size == 6 && r.max_len == 10 && r.unk_id == 3);
  CU_ASSERT(strcmp(r.tgt_vocab[5], "sont") == 0 && strcmp(r.src_vocab[4], "they") == 0 && strcmp(r.id, m.id) == 0);
  task_meta_free(&r);
  /* a file without metadata: a clear error */
  ds_h5_lock();
  f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(f);
  ds_h5_unlock();
  CU_ASSERT_EQUAL(task_meta_read(path, &r), NN_ERR_FORMAT);
  CU_ASSERT(strstr(nn_errmsg(), "no decoding metadata") != NULL);
  remove(path);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("task", NULL, NULL);
  CU_add_test(s, "BLEU: clipped counts, a zero-match order", test_bleu_clip_and_zero);
  CU_add_test(s, "BLEU: perfect match, brevity penalty", test_bleu_perfect_and_brevity);
  CU_add_test(s, "BLEU: corpus statistics are summed", test_bleu_corpus);
  CU_add_test(s, "seq2seq batch: padding, masks, teacher forcing, loss on non-PAD", test_s2s_batch);
  CU_add_test(s, "seq2seq greedy decoding and BLEU through a decoding state", test_s2s_greedy_bleu);
  CU_add_test(s, "decoding metadata round trip", test_meta_roundtrip);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int failures = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  return failures ? 1 : 0;
}
