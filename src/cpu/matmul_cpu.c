/* CPU kernels of the matmul ops. */
#include "../ops/matmul.h"

static void add_bias(float *y, const float *b, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) y[r * cols + c] += b[c];
}

static void bias_grad(float *db, const float *dy, int64_t rows, int64_t cols) {
  /* blocks of 64 columns, rows streamed in order: contiguous, vectorisable, deterministic */
  const int64_t BW = 64, nb = (cols + BW - 1) / BW;
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t blk = 0; blk < nb; blk++) {
    int64_t c0 = blk * BW, w = cols - c0 < BW ? cols - c0 : BW;
    float acc[64] = {0};
    for (int64_t r = 0; r < rows; r++) {
      const float *row = dy + r * cols + c0;
      for (int64_t j = 0; j < w; j++) acc[j] += row[j];
    }
    for (int64_t j = 0; j < w; j++) db[c0 + j] += acc[j];
  }
}

const struct nn_k_matmul nn_cpu_matmul = {.add_bias = add_bias, .bias_grad = bias_grad};
