#include "nn_rng.h"
#include <math.h>

void nn_philox(uint32_t out[4], uint64_t key, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3) {
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1;
    c3 = (uint32_t)p0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

uint32_t nn_rng_u32(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index) {
  uint32_t o[4];
  nn_philox(o, seed, (uint32_t)index, (uint32_t)(index >> 32), (uint32_t)step,
            stream ^ ((uint32_t)(step >> 32) << 20));
  return o[0];
}

float nn_rng_uniform(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index) {
  return (float)(nn_rng_u32(seed, stream, step, index) >> 8) * (1.0f / 16777216.0f);
}

#ifdef __AVX512F__
#include <immintrin.h>

/* Philox on 8 counters idx (64-bit lanes), AVX-512: each 32-bit word lives in the low half of a
 * lane (the high half holds garbage that only reaches discarded halves), so a round is two
 * vpmuludq, two shifts and two three-way xors. Returns the 8 first output words as floats in [0,1). */
static inline __m256 philox8(__m512i idx, __m512i c2i, __m512i c3i, const __m512i *k0, const __m512i *k1) {
  const __m512i m0 = _mm512_set1_epi64(0xD2511F53u), m1 = _mm512_set1_epi64(0xCD9E8D57u);
  __m512i c0 = idx, c1 = _mm512_srli_epi64(idx, 32), c2 = c2i, c3 = c3i;
  for (int r = 0; r < 10; r++) {
    __m512i p0 = _mm512_mul_epu32(c0, m0), p1 = _mm512_mul_epu32(c2, m1);
    c0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), c1, k0[r], 0x96);
    c2 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), c3, k1[r], 0x96);
    c1 = p1;
    c3 = p0;
  }
  __m256i w = _mm512_cvtepi64_epi32(c0); /* low halves */
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(w, 8)), _mm256_set1_ps(1.0f / 16777216.0f));
}

/* u[0, n - n % 8) of nn_rng_uniform_run; returns how many were written */
static int64_t uniform_run_avx512(float *u, int64_t n, uint64_t seed, uint32_t c2, uint32_t c3, uint64_t index0) {
  __m512i k0[10], k1[10];
  for (int r = 0; r < 10; r++) {
    k0[r] = _mm512_set1_epi64((uint32_t)((uint32_t)seed + (uint32_t)r * 0x9E3779B9u));
    k1[r] = _mm512_set1_epi64((uint32_t)((uint32_t)(seed >> 32) + (uint32_t)r * 0xBB67AE85u));
  }
  const __m512i c2v = _mm512_set1_epi64(c2), c3v = _mm512_set1_epi64(c3);
  __m512i idx = _mm512_add_epi64(_mm512_set1_epi64((long long)index0), _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
  const __m512i eight = _mm512_set1_epi64(8);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) { /* two independent chains per iteration */
    __m512i idx2 = _mm512_add_epi64(idx, eight);
    _mm256_storeu_ps(u + i, philox8(idx, c2v, c3v, k0, k1));
    _mm256_storeu_ps(u + i + 8, philox8(idx2, c2v, c3v, k0, k1));
    idx = _mm512_add_epi64(idx2, eight);
  }
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(u + i, philox8(idx, c2v, c3v, k0, k1));
    idx = _mm512_add_epi64(idx, eight);
  }
  return i;
}
#endif

void nn_rng_uniform_run(float *u, int64_t n, uint64_t seed, uint32_t stream, uint64_t step, uint64_t index0) {
  uint32_t c2i = (uint32_t)step, c3i = stream ^ ((uint32_t)(step >> 32) << 20);
  int64_t done = 0;
#ifdef __AVX512F__
  done = uniform_run_avx512(u, n, seed, c2i, c3i, index0);
#endif
  for (int64_t i = done; i < n; i++) {
    uint32_t o[4];
    uint64_t idx = index0 + (uint64_t)i;
    nn_philox(o, seed, (uint32_t)idx, (uint32_t)(idx >> 32), c2i, c3i);
    u[i] = (float)(o[0] >> 8) * (1.0f / 16777216.0f);
  }
}

float nn_rng_normal(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index) {
  uint32_t o[4];
  nn_philox(o, seed, (uint32_t)index, (uint32_t)(index >> 32), (uint32_t)step, stream | 0x80000000u);
  double u1 = ((o[0] >> 8) + 1.0) / 16777217.0, u2 = (o[1] >> 8) / 16777216.0;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
