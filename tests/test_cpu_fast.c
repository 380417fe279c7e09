/* Unit tests of the fast paths of the CPU backend against their plain definitions: the vectorised
 * Philox run (bit for bit), the gemm split over OpenMP threads (every transpose, beta, batch) and the
 * wide-column bias gradient (the same bits for any thread count). */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "nn.h"

/* nn_rng_uniform_run(u, n, ...) equals nn_rng_uniform at index0 + i for every length (vector bodies
 * and masked tails), with counters, seeds and steps that use their high words. */
static void test_uniform_run_bits(void) {
  static const uint64_t seeds[] = {0, 42, 0xDEADBEEF12345678ull};
  static const uint64_t starts[] = {0, 7, (1ull << 32) - 37, 0xFFFFFFFFFFFFFF00ull};
  static const uint64_t steps[] = {0, 3, (1ull << 33) + 5};
  float u[300];
  int bad = 0;
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 4; b++)
      for (int c = 0; c < 3; c++)
        for (int64_t n = 0; n <= 300; n += (n < 70 ? 1 : 77)) {
          uint32_t stream = 16u + (uint32_t)(a * 7 + c);
          nn_rng_uniform_run(u, n, seeds[a], stream, steps[c], starts[b]);
          for (int64_t i = 0; i < n; i++)
            bad += u[i] != nn_rng_uniform(seeds[a], stream, steps[c], starts[b] + (uint64_t)i);
        }
  CU_ASSERT_EQUAL(bad, 0);
}

/* a(n) with values in [-1, 1) from an LCG */
static float *rand_floats(int64_t n, uint32_t seed) {
  float *a = malloc(sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    a[i] = (float)(seed >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
  return a;
}

/* be->gemm on products big enough to be split over the threads (rows, and columns when c is wider
 * than tall) against a double-precision reference, for every transpose pair, beta 0/1, batch 1/3. */
static void test_gemm_split(void) {
  static const int64_t dims[][3] = {{300, 170, 90}, {70, 333, 120}, {257, 31, 700}};
  int bad = 0;
  for (int threads = 1; threads <= 3; threads++) {
    nn_backend_set_threads(&nn_cpu_backend, threads);
    for (int d = 0; d < 3; d++)
      for (int t = 0; t < 8; t++) {
        int ta = t & 1, tb = (t >> 1) & 1, batch = t & 4 ? 3 : 1;
        float beta = (float)(d & 1);
        int64_t m = dims[d][0], n = dims[d][1], k = dims[d][2];
        float *a = rand_floats(batch * m * k, 1u + (uint32_t)t), *b = rand_floats(batch * k * n, 2u + (uint32_t)d);
        float *c = rand_floats(batch * m * n, 3u), *c0 = malloc(sizeof(float) * (size_t)(batch * m * n));
        memcpy(c0, c, sizeof(float) * (size_t)(batch * m * n));
        nn_be_gemm(&nn_cpu_backend, c, a, b, ta, tb, m, n, k, 1.0f, beta, batch, m * k, k * n, m * n);
        for (int64_t q = 0; q < batch; q++)
          for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
              double s = beta * c0[q * m * n + i * n + j];
              for (int64_t l = 0; l < k; l++) {
                float av = ta ? a[q * m * k + l * m + i] : a[q * m * k + i * k + l];
                float bv = tb ? b[q * k * n + j * k + l] : b[q * k * n + l * n + j];
                s += (double)av * bv;
              }
              bad += fabs(c[q * m * n + i * n + j] - s) > 1e-4 * (1.0 + fabs(s)) * sqrt((double)k);
            }
        free(a);
        free(b);
        free(c);
        free(c0);
      }
  }
  nn_backend_set_threads(&nn_cpu_backend, 2);
  CU_ASSERT_EQUAL(bad, 0);
}

/* bias_grad with more columns than one block holds: the sums of a double reference, and the same
 * bits with 1, 2 and 3 threads */
static void test_bias_grad_wide(void) {
  int64_t rows = 97, cols = 2500;
  float *dy = rand_floats(rows * cols, 9u), *db[3];
  for (int t = 0; t < 3; t++) {
    nn_backend_set_threads(&nn_cpu_backend, t + 1);
    db[t] = calloc((size_t)cols, sizeof(float));
    nn_cpu_backend.k->matmul->bias_grad(&nn_cpu_backend, &(struct nn_bias_args){.rows = rows, .cols = cols, .dy = dy, .db = db[t]});
  }
  nn_backend_set_threads(&nn_cpu_backend, 2);
  int bad = 0;
  for (int64_t j = 0; j < cols; j++) {
    double s = 0;
    for (int64_t r = 0; r < rows; r++) s += dy[r * cols + j];
    bad += fabs(db[0][j] - s) > 1e-5 * (1.0 + fabs(s));
  }
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT(memcmp(db[0], db[1], sizeof(float) * (size_t)cols) == 0);
  CU_ASSERT(memcmp(db[0], db[2], sizeof(float) * (size_t)cols) == 0);
  for (int t = 0; t < 3; t++) free(db[t]);
  free(dy);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("cpu_fast", NULL, NULL);
  CU_add_test(s, "uniform run matches nn_rng_uniform", test_uniform_run_bits);
  CU_add_test(s, "gemm split over threads", test_gemm_split);
  CU_add_test(s, "bias_grad wide", test_bias_grad_wide);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int fails = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  return fails ? 1 : 0;
}
