/* CPU kernels of the reduce ops, and the deterministic double-precision dot helpers that the
 * other CPU kernels (binary_cpu.c) share. */
#include "../ops/reduce.h"

#define RED_BLOCK 256      /* inner columns accumulated together in double */
#define RED_CHUNK 8192     /* elements per partial sum of a parallel reduction */
#define RED_MAX_PARTS 256  /* partial sums of one parallel reduction */

/* sum over k < n of x(n) * (y ? y(n) : 1), in double (8 accumulators so it vectorises) */
double nn_cpu_dot(const float *x, const float *y, int64_t n) {
  double acc[8] = {0};
  int64_t j = 0;
  if (y) {
    for (; j + 8 <= n; j += 8)
      for (int k = 0; k < 8; k++) acc[k] += (double)x[j + k] * (double)y[j + k];
    for (; j < n; j++) acc[0] += (double)x[j] * (double)y[j];
  } else {
    for (; j + 8 <= n; j += 8)
      for (int k = 0; k < 8; k++) acc[k] += (double)x[j + k];
    for (; j < n; j++) acc[0] += (double)x[j];
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* nn_cpu_dot over threads; the split depends only on n, so the result does not depend on the
 * thread count */
double nn_cpu_dot_par(const float *x, const float *y, int64_t n) {
  int64_t chunk = RED_CHUNK;
  if (n > chunk * RED_MAX_PARTS) chunk = (n + RED_MAX_PARTS - 1) / RED_MAX_PARTS;
  int64_t parts = (n + chunk - 1) / chunk;
  if (parts <= 1) return nn_cpu_dot(x, y, n);
  double part[RED_MAX_PARTS];
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < parts; p++) {
    int64_t lo = p * chunk, len = n - lo < chunk ? n - lo : chunk;
    part[p] = nn_cpu_dot(x + lo, y ? y + lo : NULL, len);
  }
  double s = 0;
  for (int64_t p = 0; p < parts; p++) s += part[p];
  return s;
}

/* out(outer,inner) = alpha * sum over n of x(outer,n,inner) */
static void red_sum(float *out, const float *x, int64_t outer, int64_t n, int64_t inner, float alpha) {
  if (inner == 1) {
    if (outer < 8) { /* few long rows: parallel inside each row */
      for (int64_t o = 0; o < outer; o++) out[o] = (float)(alpha * nn_cpu_dot_par(x + o * n, NULL, n));
      return;
    }
#pragma omp parallel for schedule(static) if (outer * n > 32768)
    for (int64_t o = 0; o < outer; o++) out[o] = (float)(alpha * nn_cpu_dot(x + o * n, NULL, n));
    return;
  }
  int64_t nb = (inner + RED_BLOCK - 1) / RED_BLOCK;
#pragma omp parallel for schedule(static) if (outer * n * inner > 32768)
  for (int64_t it = 0; it < outer * nb; it++) {
    int64_t o = it / nb, j0 = (it % nb) * RED_BLOCK;
    int64_t w = inner - j0 < RED_BLOCK ? inner - j0 : RED_BLOCK;
    double acc[RED_BLOCK];
    for (int64_t j = 0; j < w; j++) acc[j] = 0;
    for (int64_t k = 0; k < n; k++) {
      const float *row = x + (o * n + k) * inner + j0;
      for (int64_t j = 0; j < w; j++) acc[j] += (double)row[j];
    }
    for (int64_t j = 0; j < w; j++) out[o * inner + j0 + j] = (float)(alpha * acc[j]);
  }
}

/* dx(outer,n,inner) += alpha * dy(outer,inner) */
static void red_expand(float *dx, const float *dy, int64_t outer, int64_t n, int64_t inner, float alpha) {
  if (inner == 1) {
    int64_t nc = (n + RED_CHUNK - 1) / RED_CHUNK;
#pragma omp parallel for schedule(static) if (outer * n > 32768)
    for (int64_t it = 0; it < outer * nc; it++) {
      int64_t o = it / nc, j0 = (it % nc) * RED_CHUNK, w = n - j0 < RED_CHUNK ? n - j0 : RED_CHUNK;
      float v = alpha * dy[o];
      float *d = dx + o * n + j0;
      for (int64_t j = 0; j < w; j++) d[j] += v;
    }
    return;
  }
#pragma omp parallel for schedule(static) if (outer * n * inner > 32768)
  for (int64_t r = 0; r < outer * n; r++) {
    const float *s = dy + (r / n) * inner;
    float *d = dx + r * inner;
    for (int64_t j = 0; j < inner; j++) d[j] += alpha * s[j];
  }
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_sum(const struct nn_backend *be, const struct nn_reduce_args *a) { (void)be; red_sum(a->out, a->x, a->outer, a->n, a->inner, a->alpha); }
static void k_expand(const struct nn_backend *be, const struct nn_reduce_args *a) {
  (void)be;
  red_expand(a->dx, a->dy, a->outer, a->n, a->inner, a->alpha);
}
const struct nn_k_reduce nn_cpu_reduce = {.sum = k_sum, .expand = k_expand};
