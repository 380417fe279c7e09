/* bleu: corpus BLEU-4 statistics by direct n-gram counting (sentences are short). */
#include "bleu.h"
#include <math.h>
#include <string.h>

/* occurrences of the n-gram g[0..n) in s[0..len) */
static int64_t count_ngram(const int32_t *g, int n, const int32_t *s, int64_t len) {
  int64_t c = 0;
  for (int64_t i = 0; i + n <= len; i++)
    if (memcmp(s + i, g, sizeof(int32_t) * (size_t)n) == 0) c++;
  return c;
}

void bleu_add(double *stats, const int32_t *hyp, int64_t nh, const int32_t *ref, int64_t nr) {
  for (int n = 1; n <= BLEU_N; n++) {
    if (nh < n) continue;
    for (int64_t i = 0; i + n <= nh; i++) {
      /* each distinct n-gram once, at its first occurrence: matches += min(count in hyp, count in ref) */
      if (count_ngram(hyp + i, n, hyp, i + n - 1) > 0) continue;
      int64_t ch = count_ngram(hyp + i, n, hyp, nh), cr = count_ngram(hyp + i, n, ref, nr);
      stats[n - 1] += (double)(ch < cr ? ch : cr);
    }
    stats[BLEU_N + n - 1] += (double)(nh - n + 1);
  }
  stats[2 * BLEU_N] += (double)nh;
  stats[2 * BLEU_N + 1] += (double)nr;
}

double bleu_score(const double *stats) {
  double c = stats[2 * BLEU_N], r = stats[2 * BLEU_N + 1], logp = 0;
  if (c <= 0) return 0;
  for (int n = 0; n < BLEU_N; n++) {
    if (stats[n] <= 0 || stats[BLEU_N + n] <= 0) return 0;
    logp += log(stats[n] / stats[BLEU_N + n]);
  }
  double bp = c > r ? 1.0 : exp(1.0 - r / c);
  return bp * exp(logp / BLEU_N);
}
