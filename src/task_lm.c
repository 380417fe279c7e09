/* task_lm: language modelling over text windows of block+1 tokens (inputs [:-1], targets [1:]).
 * Loss (mean next-token cross-entropy) and perplexity exp(loss); rate in tokens/s. */
#include <math.h>
#include <stdio.h>
#include "model.h"
#include "task.h"

static int64_t lm_sample_len(const struct cfg *c, const struct ds_meta *m) {
  (void)m;
  return cfg_int(c, "block");
}

static int64_t lm_eval_count(struct ds_reader *r, int64_t len) { return ds_num_samples(r, len); }

/* evaluation windows are consecutive: window i is tokens [i*(len+1), (i+1)*(len+1)) */
static nn_status lm_eval_read(struct ds_reader *r, const int64_t *idx, int64_t n, struct task_batch *tb) {
  int64_t W = tb->len + 1;
  tb->b.n = n;
  for (int64_t i = 0; i < n; i++) NN_TRY(ds_read_tokens(r, idx[i] * W, W, tb->b.tokens + i * W));
  return NN_OK;
}

static void lm_report(const double *acc, int training, const char *split, char *line, size_t llen, char *json,
                      size_t jlen) {
  double loss = acc[TASK_LOSS_SUM] / (acc[TASK_COUNT] > 0 ? acc[TASK_COUNT] : 1);
  if (training) {
    snprintf(line, llen, "%s", "");
    snprintf(json, jlen, "%s", "");
  } else {
    snprintf(line, llen, " | %s perplexity %.3f", split, exp(loss));
    snprintf(json, jlen, ", \"perplexity\": %.6f", exp(loss));
  }
}

const struct task task_lm = {
    .name = "lm",
    .data_kind = DS_TEXT,
    .unit = "tok/s",
    .data_unit = "tokens",
    .count_name = "tokens",
    .sample_len = lm_sample_len,
    .eval_count = lm_eval_count,
    .eval_read = lm_eval_read,
    .report = lm_report,
};
