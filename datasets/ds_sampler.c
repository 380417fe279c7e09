/* ds_sampler: PyTorch DistributedSampler semantics over a Philox-driven Fisher-Yates permutation. */
#include <stdlib.h>
#include "ds.h"
#include "nn_rng.h"

void ds_sampler_init(struct ds_sampler *s, int64_t n, int rank, int nranks, uint64_t seed, int shuffle, int drop_last) {
  NN_ASSERT(n >= 0 && n <= ((int64_t)1 << 32), "ds_sampler_init: n = %lld outside [0, 2^32]", (long long)n);
  NN_ASSERT(nranks >= 1 && rank >= 0 && rank < nranks, "ds_sampler_init: rank %d of %d", rank, nranks);
  *s = (struct ds_sampler){0};
  s->n = n;
  s->rank = rank;
  s->nranks = nranks;
  s->seed = seed;
  s->shuffle = shuffle;
  s->drop_last = drop_last;
  s->per_rank = drop_last ? n / nranks : (n + nranks - 1) / nranks;
  s->perm_epoch = -1;
}

/* Examples per rank of the current epoch, after the first s->start (global) ones. */
static int64_t per_rank_after(const struct ds_sampler *s, int64_t start) {
  int64_t left = s->n - start;
  if (left <= 0) return 0;
  return s->drop_last ? left / s->nranks : (left + s->nranks - 1) / s->nranks;
}

void ds_sampler_set_epoch(struct ds_sampler *s, int64_t epoch) {
  s->epoch = epoch;
  s->pos = 0;
  s->start = 0;
  s->per_rank = per_rank_after(s, 0);
}

int64_t ds_sampler_consumed(const struct ds_sampler *s) { return s->start + s->pos * s->nranks; }

void ds_sampler_resume(struct ds_sampler *s, int64_t epoch, int64_t consumed) {
  s->epoch = epoch;
  s->pos = 0;
  s->start = consumed < s->n ? consumed : s->n;
  s->per_rank = per_rank_after(s, s->start);
}

void ds_sampler_free(struct ds_sampler *s) {
  free(s->perm);
  s->perm = NULL;
  s->perm_epoch = -1;
}

/* Fisher-Yates shuffle of [0,n) for (seed, epoch): swap i with j = floor(u32(seed, epoch, i) * (i+1) / 2^32). */
static void ds_permute(int64_t *p, int64_t n, uint64_t seed, int64_t epoch) {
  for (int64_t i = 0; i < n; i++) p[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    uint64_t u = nn_rng_u32(seed, NN_RNG_STREAM_SAMPLER, (uint64_t)epoch, (uint64_t)i);
    int64_t j = (int64_t)((u * (uint64_t)(i + 1)) >> 32);
    int64_t t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
}

int64_t ds_sampler_next(struct ds_sampler *s, int64_t count, int64_t *out) {
  int64_t avail = s->per_rank - s->pos, k = count < avail ? count : avail;
  if (k <= 0) return 0;
  if (s->shuffle && s->perm_epoch != s->epoch) {
    if (!s->perm) {
      s->perm = malloc(sizeof(int64_t) * (size_t)(s->n ? s->n : 1));
      NN_ASSERT(s->perm, "ds_sampler_next: out of memory for a permutation of %lld", (long long)s->n);
    }
    ds_permute(s->perm, s->n, s->seed, s->epoch);
    s->perm_epoch = s->epoch;
  }
  for (int64_t j = 0; j < k; j++) {
    int64_t g = (s->start + (s->pos + j) * s->nranks + s->rank) % s->n; /* padding wraps round the permutation */
    out[j] = s->shuffle ? s->perm[g] : g;
  }
  s->pos += k;
  return k;
}

int64_t ds_sampler_offset(const struct ds_sampler *s, int64_t range) {
  if (!s->shuffle || range <= 1) return 0;
  uint32_t o[4];
  nn_philox(o, s->seed, 0xffffffffu, 0xffffffffu, (uint32_t)s->epoch, NN_RNG_STREAM_SAMPLER | 0x40000000u);
  uint64_t u = ((uint64_t)o[0] << 32) | o[1];
  return (int64_t)(u % (uint64_t)range);
}
