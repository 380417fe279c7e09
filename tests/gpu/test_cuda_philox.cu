// Runs on the CPU in every CUDA build (no GPU needed): the backend's Philox (cu_rng_u32 /
// cu_rng_uniform, compiled by nvcc for host and device from one source) gives the same bits as
// the CPU's nn_rng_u32 / nn_rng_uniform for the same (seed, stream, step, index), so GPU dropout
// masks equal CPU masks. The device instantiation differs only in __umulhi for the high word.
#include <cstdio>
#include "cu_common.cuh"
extern "C" {
#include "nn_rng.h"
}

int main() {
  const uint64_t seeds[] = {0, 1, 42, 0x123456789abcdefULL, ~0ULL};
  const uint64_t steps[] = {0, 1, 7, 1ULL << 33, ~0ULL >> 3};
  const uint32_t streams[] = {0, 1, 16, 17, 0xffffffffu};
  long checked = 0, bad = 0;
  for (uint64_t seed : seeds)
    for (uint64_t step : steps)
      for (uint32_t stream : streams)
        for (uint64_t idx = 0; idx < 2000; idx = idx * 3 + 1) {
          uint64_t index = idx * 0x9E3779B97F4A7C15ULL >> (idx % 40);
          uint32_t a = cu_rng_u32(seed, stream, step, index), b = nn_rng_u32(seed, stream, step, index);
          float ua = cu_rng_uniform(seed, stream, step, index), ub = nn_rng_uniform(seed, stream, step, index);
          checked++;
          if (a != b || ua != ub) {
            if (bad++ < 5)
              printf("FAIL - seed %llx stream %u step %llx index %llx: cuda %08x cpu %08x\n", (unsigned long long)seed,
                     stream, (unsigned long long)step, (unsigned long long)index, a, b);
          }
        }
  printf("%s - the CUDA backend's Philox matches nn_rng bit for bit (%ld addresses, %ld differ)\n",
         bad ? "FAIL" : "ok  ", checked, bad);
  return bad ? 1 : 0;
}
