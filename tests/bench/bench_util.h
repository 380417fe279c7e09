/* Timing helpers shared by the benchmark programs. Header-only. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H
#include <cblas.h>
#include <stdlib.h>
#include <time.h>
#include "nn.h"

extern void openblas_set_num_threads(int);

/* 1: bench_now_ms reads this process's CPU time instead of the wall clock (single-threaded runs on a
 * shared machine: time slices lost to other processes do not count) */
static int bench_cpu_clock;

/* Wall-clock (or with bench_cpu_clock, process CPU) milliseconds. */
static inline double bench_now_ms(void) {
  struct timespec ts;
  clock_gettime(bench_cpu_clock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of t(n) (sorts t). */
static inline double bench_median(double *t, int n) {
  qsort(t, (size_t)n, sizeof(double), bench_cmp_double);
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Plain cblas_sgemm C(n,n) = A(n,n) B(n,n) on OpenBLAS's own `threads` threads: GFLOP/s, median of
 * `runs` after one warm-up (the library keeps OpenBLAS at one thread and splits products itself;
 * its setting is restored afterwards). */
static inline double bench_sgemm_gflops(int64_t n, int threads, int runs) {
  openblas_set_num_threads(threads);
  float *a = nn_be_alloc(&nn_cpu_backend, sizeof(float) * (size_t)(n * n)), *b = nn_be_alloc(&nn_cpu_backend, sizeof(float) * (size_t)(n * n));
  float *c = nn_be_alloc(&nn_cpu_backend, sizeof(float) * (size_t)(n * n));
  double *t = malloc(sizeof(double) * (size_t)runs);
  for (int64_t i = 0; i < n * n; i++) a[i] = b[i] = 1.0f / (float)(1 + i % 13);
  for (int r = -1; r < runs; r++) {
    double t0 = bench_now_ms();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a, (int)n, b, (int)n, 0.0f,
                c, (int)n);
    if (r >= 0) t[r] = bench_now_ms() - t0;
  }
  double ms = bench_median(t, runs);
  free(t);
  nn_be_free(&nn_cpu_backend, a);
  nn_be_free(&nn_cpu_backend, b);
  nn_be_free(&nn_cpu_backend, c);
  nn_backend_set_threads(&nn_cpu_backend, threads);
  return 2.0 * (double)n * (double)n * (double)n / (ms * 1e6);
}
#endif
