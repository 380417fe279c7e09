/* bleu: corpus BLEU-4 (Papineni et al. 2002) over token ids, one reference per sentence.
 * Sufficient statistics add over sentences and ranks (sum them, then bleu_score), so corpus BLEU of
 * a split evaluated by several ranks is one allreduce of BLEU_NSTATS doubles. No smoothing: a corpus
 * without a single matching 4-gram scores 0 (as sacreBLEU --smooth none, NLTK corpus_bleu). */
#ifndef BLEU_H
#define BLEU_H
#include <stdint.h>

#define BLEU_N 4
/* stats: [0..4) clipped n-gram matches for n = 1..4, [4..8) hypothesis n-grams, [8] hypothesis
 * length, [9] reference length */
#define BLEU_NSTATS (2 * BLEU_N + 2)

/* Add the statistics of hypothesis hyp[0..nh) against reference ref[0..nr) to stats. */
void bleu_add(double *stats, const int32_t *hyp, int64_t nh, const int32_t *ref, int64_t nr);
/* BLEU-4 in [0, 1] of summed stats: BP * exp(sum_n log(p_n) / 4), p_n = matches_n / hyp n-grams,
 * BP = 1 if hyp length > ref length, else exp(1 - ref/hyp) (0 for an empty hypothesis corpus). */
double bleu_score(const double *stats);

#endif
