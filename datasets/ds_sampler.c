/* ds_sampler: PyTorch DistributedSampler semantics over a Philox-driven Fisher-Yates permutation. */
#include <stdlib.h>
#include <string.h>
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
  s->unit_epoch = -1;
}

void ds_sampler_set_buckets(struct ds_sampler *s, const uint32_t *keys, int64_t unit, int64_t window) {
  s->keys = keys;
  s->unit = unit;
  s->window = window;
  s->perm_epoch = -1;
}

void ds_sampler_resume_unit(struct ds_sampler *s, int64_t epoch, int64_t unit_old, int64_t window_old) {
  int same = (window_old < 1 && s->window < 1) || (unit_old == s->unit && window_old == s->window);
  s->unit_epoch = same ? -1 : epoch;
  s->unit_old = unit_old;
  s->window_old = window_old;
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

/* stable sort of p[0..n) by keys[p[i]] (insertion into runs merged bottom-up) */
static void sort_by_key(int64_t *p, int64_t *tmp, int64_t n, const uint32_t *keys) {
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = keys[p[j]] < keys[p[i]] ? p[j++] : p[i++];
      while (i < mid) tmp[k++] = p[i++];
      while (j < hi) tmp[k++] = p[j++];
    }
    memcpy(p, tmp, sizeof(int64_t) * (size_t)n);
  }
}

/* Length grouping of the epoch's permutation p (ds_sampler_set_buckets), global batch `unit`. */
static void ds_bucket(int64_t *p, int64_t n, const uint32_t *keys, int64_t unit, int64_t window, uint64_t seed,
                      int64_t epoch) {
  int64_t *tmp = malloc(sizeof(int64_t) * (size_t)(n ? n : 1)), nb = n / unit;
  int64_t *order = malloc(sizeof(int64_t) * (size_t)(nb ? nb : 1));
  NN_ASSERT(tmp && order, "ds_sampler: out of memory grouping %lld examples by length", (long long)n);
  int64_t span = unit * window;
  for (int64_t lo = 0; lo < n; lo += span) sort_by_key(p + lo, tmp, lo + span < n ? span : n - lo, keys);
  /* shuffle the order of the full batches (counters n.. of the sampler stream: beside ds_permute's) */
  for (int64_t i = 0; i < nb; i++) order[i] = i;
  for (int64_t i = nb - 1; i > 0; i--) {
    uint64_t u = nn_rng_u32(seed, NN_RNG_STREAM_SAMPLER, (uint64_t)epoch, (uint64_t)(n + i));
    int64_t j = (int64_t)((u * (uint64_t)(i + 1)) >> 32), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (int64_t i = 0; i < nb; i++) memcpy(tmp + i * unit, p + order[i] * unit, sizeof(int64_t) * (size_t)unit);
  memcpy(p, tmp, sizeof(int64_t) * (size_t)(nb * unit)); /* the partial batch stays last */
  free(order);
  free(tmp);
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
    int64_t unit = s->epoch == s->unit_epoch ? s->unit_old : s->unit, win = s->epoch == s->unit_epoch ? s->window_old : s->window;
    if (s->keys && unit > 0 && win > 0) ds_bucket(s->perm, s->n, s->keys, unit, win, s->seed, s->epoch);
    s->perm_epoch = s->epoch;
  }
  for (int64_t j = 0; j < k; j++) {
    int64_t g = (s->start + (s->pos + j) * s->nranks + s->rank) % s->n; /* padding wraps round the permutation */
    out[j] = s->shuffle ? s->perm[g] : g;
  }
  s->group_key = 0;
  for (int64_t g = s->start + s->pos * s->nranks; s->keys && g < s->start + (s->pos + k) * s->nranks; g++) {
    uint32_t key = s->keys[s->shuffle ? s->perm[g % s->n] : g % s->n];
    s->group_key = key > s->group_key ? key : s->group_key;
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
