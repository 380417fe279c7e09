/* CPU kernels of the matmul ops. */
#include "../ops/matmul.h"

static void add_bias(float *y, const float *b, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) y[r * cols + c] += b[c];
}

static void bias_grad(float *db, const float *dy, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t c = 0; c < cols; c++) {
    float s = 0.0f;
    for (int64_t r = 0; r < rows; r++) s += dy[r * cols + c];
    db[c] += s;
  }
}

const struct nn_k_matmul nn_cpu_matmul = {.add_bias = add_bias, .bias_grad = bias_grad};
