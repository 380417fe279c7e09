/* nn_rng: counter-based random numbers (Philox4x32-10), addressed by (seed, stream, step, index):
 * no state to carry, so dropout masks are reproducible, resumable, and keyable by sample. */
#ifndef NN_RNG_H
#define NN_RNG_H
#include <stdint.h>

/* Four 32-bit random words for counter (c0..c3) under a 64-bit key. */
void nn_philox(uint32_t out[4], uint64_t key, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3);
/* Uniform float in [0,1) at address (seed, stream, step, index). */
float nn_rng_uniform(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index);
/* u(n) = nn_rng_uniform(seed, stream, step, index0 + i), bit for bit, vectorised (dropout masks). */
void nn_rng_uniform_run(float *u, int64_t n, uint64_t seed, uint32_t stream, uint64_t step, uint64_t index0);
/* Standard normal at address (seed, stream, step, index). */
float nn_rng_normal(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index);
/* Uniform 32-bit word at address (seed, stream, step, index). */
uint32_t nn_rng_u32(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index);

/* Streams reserved for the library (ops use stream = NN_RNG_STREAM_OPS + graph->rng_calls). */
enum { NN_RNG_STREAM_INIT = 1, NN_RNG_STREAM_SAMPLER = 2, NN_RNG_STREAM_GENERATE = 3, NN_RNG_STREAM_OPS = 16 };

#endif
