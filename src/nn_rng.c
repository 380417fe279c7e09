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

float nn_rng_normal(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index) {
  uint32_t o[4];
  nn_philox(o, seed, (uint32_t)index, (uint32_t)(index >> 32), (uint32_t)step, stream | 0x80000000u);
  double u1 = ((o[0] >> 8) + 1.0) / 16777217.0, u2 = (o[1] >> 8) / 16777216.0;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
