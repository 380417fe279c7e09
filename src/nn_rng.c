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

/* u(n) of nn_rng_uniform_run with AVX-512 (the last partial vector through a masked store) */
static void uniform_run_avx512(float *u, int64_t n, uint64_t seed, uint32_t c2, uint32_t c3, uint64_t index0) {
  __m512i k0[10], k1[10];
  for (int r = 0; r < 10; r++) {
    k0[r] = _mm512_set1_epi64((uint32_t)((uint32_t)seed + (uint32_t)r * 0x9E3779B9u));
    k1[r] = _mm512_set1_epi64((uint32_t)((uint32_t)(seed >> 32) + (uint32_t)r * 0xBB67AE85u));
  }
  const __m512i c2v = _mm512_set1_epi64(c2), c3v = _mm512_set1_epi64(c3);
  __m512i idx = _mm512_add_epi64(_mm512_set1_epi64((long long)index0), _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
  const __m512i eight = _mm512_set1_epi64(8);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) { /* four independent chains per iteration hide the multiply latency */
    __m512i idx1 = _mm512_add_epi64(idx, eight), idx2 = _mm512_add_epi64(idx1, eight);
    __m512i idx3 = _mm512_add_epi64(idx2, eight);
    _mm256_storeu_ps(u + i, philox8(idx, c2v, c3v, k0, k1));
    _mm256_storeu_ps(u + i + 8, philox8(idx1, c2v, c3v, k0, k1));
    _mm256_storeu_ps(u + i + 16, philox8(idx2, c2v, c3v, k0, k1));
    _mm256_storeu_ps(u + i + 24, philox8(idx3, c2v, c3v, k0, k1));
    idx = _mm512_add_epi64(idx3, eight);
  }
  for (; i < n; i += 8) {
    __m256 r = philox8(idx, c2v, c3v, k0, k1);
    if (n - i >= 8)
      _mm256_storeu_ps(u + i, r);
    else
      _mm256_mask_storeu_ps(u + i, (__mmask8)((1u << (n - i)) - 1u), r);
    idx = _mm512_add_epi64(idx, eight);
  }
}
#elif defined(__AVX2__)
#include <immintrin.h>

/* Philox on 4 counters idx (64-bit lanes), AVX2, as philox8 above. Returns 4 floats in [0,1). */
static inline __m128 philox4(__m256i idx, __m256i c2i, __m256i c3i, const __m256i *k0, const __m256i *k1) {
  const __m256i m0 = _mm256_set1_epi64x(0xD2511F53u), m1 = _mm256_set1_epi64x(0xCD9E8D57u);
  __m256i c0 = idx, c1 = _mm256_srli_epi64(idx, 32), c2 = c2i, c3 = c3i;
  for (int r = 0; r < 10; r++) {
    __m256i p0 = _mm256_mul_epu32(c0, m0), p1 = _mm256_mul_epu32(c2, m1);
    c0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1), k0[r]);
    c2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3), k1[r]);
    c1 = p1;
    c3 = p0;
  }
  __m128i w = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c0, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
  return _mm_mul_ps(_mm_cvtepi32_ps(_mm_srli_epi32(w, 8)), _mm_set1_ps(1.0f / 16777216.0f));
}

/* u[0, n - n % 4) of nn_rng_uniform_run with AVX2; returns how many were written */
static int64_t uniform_run_avx2(float *u, int64_t n, uint64_t seed, uint32_t c2, uint32_t c3, uint64_t index0) {
  __m256i k0[10], k1[10];
  for (int r = 0; r < 10; r++) {
    k0[r] = _mm256_set1_epi64x((uint32_t)((uint32_t)seed + (uint32_t)r * 0x9E3779B9u));
    k1[r] = _mm256_set1_epi64x((uint32_t)((uint32_t)(seed >> 32) + (uint32_t)r * 0xBB67AE85u));
  }
  const __m256i c2v = _mm256_set1_epi64x(c2), c3v = _mm256_set1_epi64x(c3), four = _mm256_set1_epi64x(4);
  __m256i idx = _mm256_add_epi64(_mm256_set1_epi64x((long long)index0), _mm256_setr_epi64x(0, 1, 2, 3));
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) { /* four independent chains per iteration */
    __m256i i1 = _mm256_add_epi64(idx, four), i2 = _mm256_add_epi64(i1, four), i3 = _mm256_add_epi64(i2, four);
    _mm_storeu_ps(u + i, philox4(idx, c2v, c3v, k0, k1));
    _mm_storeu_ps(u + i + 4, philox4(i1, c2v, c3v, k0, k1));
    _mm_storeu_ps(u + i + 8, philox4(i2, c2v, c3v, k0, k1));
    _mm_storeu_ps(u + i + 12, philox4(i3, c2v, c3v, k0, k1));
    idx = _mm256_add_epi64(i3, four);
  }
  for (; i + 4 <= n; i += 4) {
    _mm_storeu_ps(u + i, philox4(idx, c2v, c3v, k0, k1));
    idx = _mm256_add_epi64(idx, four);
  }
  return i;
}
#endif

void nn_rng_uniform_run(float *u, int64_t n, uint64_t seed, uint32_t stream, uint64_t step, uint64_t index0) {
  uint32_t c2i = (uint32_t)step, c3i = stream ^ ((uint32_t)(step >> 32) << 20);
#ifdef __AVX512F__
  uniform_run_avx512(u, n, seed, c2i, c3i, index0);
#else /* AVX2 bodies (where there is AVX2), then nn_philox with the round keys precomputed, in a loop
       * the compiler vectorises */
#ifdef __AVX2__
  int64_t done = uniform_run_avx2(u, n, seed, c2i, c3i, index0);
  u += done;
  n -= done;
  index0 += (uint64_t)done;
#endif
  uint32_t k0[10], k1[10];
  for (int r = 0; r < 10; r++) {
    k0[r] = (uint32_t)seed + (uint32_t)r * 0x9E3779B9u;
    k1[r] = (uint32_t)(seed >> 32) + (uint32_t)r * 0xBB67AE85u;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    uint64_t idx = index0 + (uint64_t)i;
    uint32_t c0 = (uint32_t)idx, c1 = (uint32_t)(idx >> 32), c2 = c2i, c3 = c3i;
    for (int r = 0; r < 10; r++) {
      uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
      uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0[r], n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1[r];
      c1 = (uint32_t)p1;
      c3 = (uint32_t)p0;
      c0 = n0;
      c2 = n2;
    }
    u[i] = (float)(c0 >> 8) * (1.0f / 16777216.0f);
  }
#endif
}

float nn_rng_normal(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index) {
  uint32_t o[4];
  nn_philox(o, seed, (uint32_t)index, (uint32_t)(index >> 32), (uint32_t)step, stream | 0x80000000u);
  double u1 = ((o[0] >> 8) + 1.0) / 16777217.0, u2 = (o[1] >> 8) / 16777216.0;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
