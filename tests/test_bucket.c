/* Length-grouped sampling (ds_sampler_set_buckets, the seq2seq translator's batches): every example
 * once per epoch, each global batch a slice of its window sorted by key, deterministic per (seed,
 * epoch), the same global batches on N ranks as on one, the global batch's largest key on every
 * rank, an exact resume, and a resume on another global batch that still covers the epoch once. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>
#include "ds.h"

#define N 1000
#define G 16 /* global batch */

static uint32_t keys[N];

static void make_keys(void) { /* lengths 1..10, the widths of --max-len 10 pairs, packed as s2s_bucket does */
  for (int i = 0; i < N; i++) keys[i] = (uint32_t)(((i * 7919u) >> 3) % 10 + 1) * 121u + (uint32_t)(i % 11);
}

/* The whole epoch of rank `rank` of `nranks` with per-rank batch B into out (per_rank entries). */
static int64_t epoch_of(int rank, int nranks, int64_t B, int64_t window, uint64_t seed, int64_t epoch, int drop,
                        int64_t *out, uint32_t *gkeys /* per batch, or NULL */) {
  struct ds_sampler s;
  ds_sampler_init(&s, N, rank, nranks, seed, 1, drop);
  ds_sampler_set_buckets(&s, keys, B * nranks, window);
  ds_sampler_set_epoch(&s, epoch);
  int64_t got = 0, k, nb = 0;
  while ((k = ds_sampler_next(&s, B, out + got)) > 0) {
    if (gkeys) gkeys[nb] = s.group_key;
    got += k, nb++;
  }
  ds_sampler_free(&s);
  return got;
}

/* global order of an epoch on nranks ranks: rank r's j-th index at position j*nranks + r */
static int64_t global_order(int nranks, int64_t window, uint64_t seed, int64_t epoch, int64_t *g) {
  int64_t *buf = malloc(sizeof(int64_t) * N), per = 0;
  for (int r = 0; r < nranks; r++) {
    per = epoch_of(r, nranks, G / nranks, window, seed, epoch, 1, buf, NULL);
    for (int64_t j = 0; j < per; j++) g[j * nranks + r] = buf[j];
  }
  free(buf);
  return per * nranks;
}

static void test_cover_once(void) {
  make_keys();
  int64_t *g = malloc(sizeof(int64_t) * N);
  for (int nr = 1; nr <= 4; nr *= 2) {
    for (int64_t w = 1; w <= 100; w *= 10) {
      int64_t n = global_order(nr, w, 5, 2, g);
      CU_ASSERT_EQUAL(n, N / nr * nr);
      char seen[N] = {0};
      int dup = 0;
      for (int64_t i = 0; i < n; i++) dup += seen[g[i]]++;
      CU_ASSERT_EQUAL(dup, 0);
    }
  }
  /* without drop_last one rank sees every example (N is not a multiple of G: a partial last batch) */
  int64_t *one = malloc(sizeof(int64_t) * N);
  CU_ASSERT_EQUAL(epoch_of(0, 1, G, 4, 5, 0, 0, one, NULL), N);
  char seen[N] = {0};
  for (int64_t i = 0; i < N; i++) seen[one[i]] = 1;
  CU_ASSERT_EQUAL(memchr(seen, 0, N), NULL);
  free(one);
  free(g);
}

/* the keys of full batch b of order g lie in [lo, hi] */
static void range_of(const int64_t *g, int64_t b, uint32_t *lo, uint32_t *hi) {
  *lo = UINT32_MAX, *hi = 0;
  for (int64_t j = 0; j < G; j++) {
    uint32_t k = keys[g[b * G + j]];
    *lo = k < *lo ? k : *lo;
    *hi = k > *hi ? k : *hi;
  }
}

static void test_grouped(void) {
  make_keys();
  int64_t *g = malloc(sizeof(int64_t) * N), nb = N / G;
  /* one window over the epoch: the batches are slices of one sorted order, so their key ranges only
   * touch (no batch holds a key strictly inside another's range) */
  global_order(1, nb, 3, 1, g);
  int overlap = 0;
  for (int64_t a = 0; a < nb; a++)
    for (int64_t b = 0; b < nb; b++) {
      uint32_t la, ha, lb, hb;
      range_of(g, a, &la, &ha);
      range_of(g, b, &lb, &hb);
      overlap += a != b && !(ha <= lb || hb <= la);
    }
  CU_ASSERT_EQUAL(overlap, 0);
  /* and shuffled: not in sorted order */
  int sorted = 1;
  for (int64_t b = 1; b < nb; b++) {
    uint32_t l0, h0, l1, h1;
    range_of(g, b - 1, &l0, &h0);
    range_of(g, b, &l1, &h1);
    sorted &= h0 <= l1;
  }
  CU_ASSERT_FALSE(sorted);
  /* padding (to each batch's longest length, key / 121) falls with any window, most with the largest */
  double pad[3];
  int64_t win[3] = {0, 4, nb};
  for (int i = 0; i < 3; i++) {
    global_order(1, win[i], 3, 1, g);
    int64_t slots = 0, real = 0;
    for (int64_t b = 0; b < nb; b++) {
      uint32_t lo, hi;
      range_of(g, b, &lo, &hi);
      slots += G * (hi / 121);
      for (int64_t j = 0; j < G; j++) real += keys[g[b * G + j]] / 121;
    }
    pad[i] = 1.0 - (double)real / (double)slots;
  }
  printf("\n    padded share: random %.3f, windows of 4 batches %.3f, one window %.3f", pad[0], pad[1], pad[2]);
  CU_ASSERT(pad[1] < 0.5 * pad[0]);
  CU_ASSERT(pad[2] < 0.2 * pad[0]);
  free(g);
}

static void test_deterministic(void) {
  make_keys();
  int64_t *a = malloc(sizeof(int64_t) * N), *b = malloc(sizeof(int64_t) * N);
  global_order(1, 8, 11, 4, a);
  global_order(1, 8, 11, 4, b);
  CU_ASSERT_EQUAL(memcmp(a, b, sizeof(int64_t) * (N / G * G)), 0);
  global_order(1, 8, 12, 4, b);
  CU_ASSERT_NOT_EQUAL(memcmp(a, b, sizeof(int64_t) * (N / G * G)), 0);
  global_order(1, 8, 11, 5, b); /* another epoch */
  CU_ASSERT_NOT_EQUAL(memcmp(a, b, sizeof(int64_t) * (N / G * G)), 0);
  free(a);
  free(b);
}

static void test_ranks(void) {
  make_keys();
  int64_t *one = malloc(sizeof(int64_t) * N), *many = malloc(sizeof(int64_t) * N);
  int64_t n1 = global_order(1, 8, 9, 2, one);
  for (int nr = 2; nr <= 4; nr *= 2) {
    int64_t n = global_order(nr, 8, 9, 2, many);
    CU_ASSERT_EQUAL(n, n1);
    CU_ASSERT_EQUAL(memcmp(one, many, sizeof(int64_t) * (size_t)n), 0);
    /* every rank gets the global batch's largest key with each of its batches */
    uint32_t gk[N / G + 1], want;
    for (int r = 0; r < nr; r++) {
      int64_t got = epoch_of(r, nr, G / nr, 8, 9, 2, 1, many, gk);
      for (int64_t b = 0; b < got / (G / nr); b++) {
        uint32_t lo;
        range_of(one, b, &lo, &want);
        CU_ASSERT_EQUAL(gk[b], want);
      }
    }
  }
  free(one);
  free(many);
}

/* consumed examples of epoch 3 on n1 ranks (global batch u1), the rest on n2 ranks (u2) */
static void resume_case(int n1, int64_t u1, int n2, int64_t u2, int64_t batches) {
  make_keys();
  int64_t *buf = malloc(sizeof(int64_t) * N), *ref = malloc(sizeof(int64_t) * N), k, consumed = batches * u1;
  char seen[N] = {0};
  int dup = 0;
  global_order(1, 8, 7, 3, ref); /* the uninterrupted epoch on one rank, global batch G */
  for (int r = 0; r < n1; r++) {
    struct ds_sampler s;
    ds_sampler_init(&s, N, r, n1, 7, 1, 1);
    ds_sampler_set_buckets(&s, keys, u1, 8);
    ds_sampler_set_epoch(&s, 3);
    for (int64_t b = 0; b < batches; b++) {
      k = ds_sampler_next(&s, u1 / n1, buf);
      for (int64_t i = 0; i < k; i++) dup += seen[buf[i]]++;
    }
    ds_sampler_free(&s);
  }
  int64_t pos = consumed, same = 1;
  for (int r = 0; r < n2; r++) {
    struct ds_sampler s;
    ds_sampler_init(&s, N, r, n2, 7, 1, 1);
    ds_sampler_set_buckets(&s, keys, u2, 8);
    ds_sampler_resume(&s, 3, consumed);
    ds_sampler_resume_unit(&s, 3, u1, 8);
    int64_t j = 0;
    while ((k = ds_sampler_next(&s, u2 / n2, buf)) > 0)
      for (int64_t i = 0; i < k; i++, j++) {
        dup += seen[buf[i]]++;
        if (u1 == G) same &= buf[i] == ref[consumed + j * n2 + r]; /* lands on the same batches */
      }
    pos += j;
    ds_sampler_free(&s);
  }
  CU_ASSERT_EQUAL(dup, 0);
  CU_ASSERT(pos >= N - n2 - u1); /* all but the drop_last remainder */
  CU_ASSERT(same);
  free(buf);
  free(ref);
}
static void test_resume_same(void) { resume_case(2, G, 1, G, 7); }
static void test_resume_other(void) { resume_case(2, 2 * G, 3, 24, 5); }

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("length-grouped sampler", NULL, NULL);
  CU_add_test(s, "every example once per epoch (1, 2, 4 ranks; windows 1, 10, 100)", test_cover_once);
  CU_add_test(s, "batches are slices of their window sorted by length, shuffled; padding falls", test_grouped);
  CU_add_test(s, "deterministic per (seed, epoch)", test_deterministic);
  CU_add_test(s, "np=2, np=4 == np=1 (same global batches), group key on every rank", test_ranks);
  CU_add_test(s, "resume mid-epoch on another rank count, same global batch: the same batches", test_resume_same);
  CU_add_test(s, "resume mid-epoch on another global batch: every example still once", test_resume_other);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int fails = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  return fails ? 1 : 0;
}
