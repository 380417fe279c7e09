/* CPU kernels of the dropout op. */
#include "../ops/dropout.h"

#define DROP_CHUNK 2048 /* elements per parallel work item */

/* y(n) = x(n) * mask * scale with mask(n) drawn per element from its sample key: each chunk is cut
 * at example boundaries into runs of consecutive keys, drawn with the vectorised nn_rng_uniform_run */
static void drop_forward(float *y, uint8_t *mask, const float *x, int64_t n, int64_t per, float p, uint64_t seed,
                         uint32_t stream, uint64_t step, int64_t base, int64_t stride) {
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  int64_t nc = (n + DROP_CHUNK - 1) / DROP_CHUNK;
#pragma omp parallel for schedule(static) if (n > 4096)
  for (int64_t c = 0; c < nc; c++) {
    float u[DROP_CHUNK];
    int64_t i1 = (c + 1) * DROP_CHUNK < n ? (c + 1) * DROP_CHUNK : n;
    for (int64_t i0 = c * DROP_CHUNK; i0 < i1;) {
      int64_t b = i0 / per, e = i0 % per; /* example and position within it of element i0 */
      int64_t len = per - e < i1 - i0 ? per - e : i1 - i0;
      nn_rng_uniform_run(u, len, seed, stream, step, (uint64_t)(base + b * stride) * (uint64_t)per + (uint64_t)e);
#pragma omp simd
      for (int64_t j = 0; j < len; j++) {
        uint8_t keep = u[j] >= p; /* nn_dropout_keep's rule */
        mask[i0 + j] = keep;
        y[i0 + j] = keep ? x[i0 + j] * scale : 0.0f;
      }
      i0 += len;
    }
  }
}

/* dx(n) += dy(n) * mask(n) * scale */
static void drop_backward(float *dx, const float *dy, const uint8_t *mask, int64_t n, float scale) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) dx[i] += mask[i] ? dy[i] * scale : 0.0f;
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_forward(const struct nn_backend *be, const struct nn_dropout_args *a) {
  (void)be;
  drop_forward(a->y, a->mask, a->x, a->n, a->per, a->p, a->seed, a->stream, a->step, a->base, a->stride);
}
static void k_backward(const struct nn_backend *be, const struct nn_dropout_args *a) {
  (void)be;
  drop_backward(a->dx, a->dy, a->mask, a->n, a->scale);
}
const struct nn_k_dropout nn_cpu_dropout = {.forward = k_forward, .backward = k_backward};
