/* CPU kernels of the softmax ops, and the vectorised exp row helpers the loss kernels share. */
#include "../ops/softmax.h"
#include <math.h>
#include <omp.h>
#include <string.h>
#include "cpu_math.h"

#define SM_PAR_WORK 32768 /* elements below which a kernel stays single-threaded */

static float row_max(const float *x, int64_t n) {
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

/* y(n) = exp(x(n) - shift); returns the sum of y (y may alias x) */
static float expsum(float *y, const float *x, float shift, int64_t n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; i++) {
    float e = nn_cpu_expf(x[i] - shift);
    y[i] = e;
    s += e;
  }
  return s;
}

/* log sum exp(x(n)) (-inf when every entry is -inf); shared with the loss kernels */
float nn_cpu_logsumexp(const float *x, int64_t n) {
  float m = row_max(x, n), s = 0.0f;
  if (m == -INFINITY) return m;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; i++) s += nn_cpu_expf(x[i] - m);
  return m + logf(s);
}

/* dx(n) += a * exp(x(n) - shift); shared with the loss kernels */
void nn_cpu_exp_axpy(float *dx, float a, const float *x, float shift, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) dx[i] += a * nn_cpu_expf(x[i] - shift);
}

/* x(n) = exp(x - max x) (0 where x is -inf); returns the sum (0 when every entry is -inf). Shared
 * with the attention kernels. */
float nn_cpu_exp_row(float *x, int64_t n) {
  float m = row_max(x, n);
  if (m == -INFINITY) {
    memset(x, 0, sizeof(float) * (size_t)n);
    return 0.0f;
  }
  return expsum(x, x, m, n);
}

/* one row: y(S) = softmax of x(S) + mask(S) over the first `valid` entries, zeros after */
static void softmax_row(float *y, const float *x, const float *mask, int64_t valid, int64_t S) {
  if (valid < 0) valid = 0;
  if (valid > S) valid = S;
  const float *z = x;
  if (mask) {
    for (int64_t s = 0; s < valid; s++) y[s] = x[s] + mask[s];
    z = y;
  }
  float m = row_max(z, valid);
  if (m == -INFINITY) { /* nothing to attend to */
    memset(y, 0, sizeof(float) * (size_t)S);
    return;
  }
  float inv = 1.0f / expsum(y, z, m, valid);
#pragma omp simd
  for (int64_t s = 0; s < valid; s++) y[s] *= inv;
  if (valid < S) memset(y + valid, 0, sizeof(float) * (size_t)(S - valid));
}

static void softmax_forward(float *y, const float *x, const float *mask, int64_t mask_rows, int64_t rows,
                            int64_t T, int64_t S, int causal) {
#pragma omp parallel for schedule(static) if (rows * S > SM_PAR_WORK && !omp_in_parallel())
  for (int64_t r = 0; r < rows; r++) {
    int64_t valid = causal ? r % T + S - T + 1 : S;
    softmax_row(y + r * S, x + r * S, mask ? mask + (r % mask_rows) * S : NULL, valid, S);
  }
}

static void softmax_backward(float *dx, const float *y, const float *dy, int64_t rows, int64_t S) {
#pragma omp parallel for schedule(static) if (rows * S > SM_PAR_WORK && !omp_in_parallel())
  for (int64_t r = 0; r < rows; r++) {
    const float *yr = y + r * S, *gr = dy + r * S;
    float *dr = dx + r * S, dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t s = 0; s < S; s++) dot += yr[s] * gr[s];
#pragma omp simd
    for (int64_t s = 0; s < S; s++) dr[s] += yr[s] * (gr[s] - dot);
  }
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_forward(const struct nn_backend *be, const struct nn_softmax_args *a) {
  (void)be;
  softmax_forward(a->y, a->x, a->mask, a->mask_rows, a->rows, a->T, a->S, a->causal);
}
static void k_backward(const struct nn_backend *be, const struct nn_softmax_args *a) {
  (void)be;
  softmax_backward(a->dx, a->y, a->dy, a->rows, a->S);
}
const struct nn_k_softmax nn_cpu_softmax = {.forward = k_forward, .backward = k_backward};
