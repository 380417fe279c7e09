/* task_classification: image examples -> class labels. Loss and accuracy; rate in examples/s. */
#include <stdio.h>
#include "model.h"
#include "task.h"

enum { CORRECT = TASK_EXTRA };

static int64_t class_sample_len(const struct cfg *c, const struct ds_meta *m) {
  (void)c, (void)m;
  return 0;
}

static int64_t class_eval_count(struct ds_reader *r, int64_t len) { return ds_num_samples(r, len); }

static nn_status class_eval_read(struct ds_reader *r, const int64_t *idx, int64_t n, struct task_batch *tb) {
  tb->b.n = n;
  return ds_read_images(r, idx, n, tb->b.pixels, tb->b.labels);
}

/* correct argmax predictions of out->logits(N,C) against the labels */
static nn_status class_account(const struct task_model *m, const struct ds_batch *b, const struct model_out *out,
                               int training, double *acc) {
  (void)training;
  if (!out->logits || !b->labels) return NN_OK;
  struct nn_graph *g = m->g;
  int64_t N = out->logits->shape[0], C = out->logits->shape[1], correct = 0;
  float *h = nn_arena_alloc(&g->meta, sizeof(float) * (size_t)out->logits->numel);
  if (!h) return nn_fail(NN_ERR_OOM, "out of memory for the accuracy");
  nn_be_to_host(g->be, h, out->logits->data, sizeof(float) * (size_t)out->logits->numel);
  for (int64_t i = 0; i < N; i++) {
    int64_t best = 0;
    for (int64_t j = 1; j < C; j++)
      if (h[i * C + j] > h[i * C + best]) best = j;
    correct += best == b->labels[i];
  }
  acc[CORRECT] += (double)correct;
  return NN_OK;
}

static void class_report(const double *acc, int training, const char *split, char *line, size_t llen, char *json,
                         size_t jlen) {
  double a = acc[CORRECT] / (acc[TASK_COUNT] > 0 ? acc[TASK_COUNT] : 1);
  snprintf(json, jlen, ", \"accuracy\": %.6f", a);
  if (training) snprintf(line, llen, "%s", "");
  else snprintf(line, llen, " | %s accuracy %.4f", split, a);
}

const struct task task_classification = {
    .name = "classification",
    .data_kind = DS_IMAGE,
    .unit = "ex/s",
    .data_unit = "examples",
    .count_name = "examples",
    .sample_len = class_sample_len,
    .eval_count = class_eval_count,
    .eval_read = class_eval_read,
    .account = class_account,
    .report = class_report,
};
