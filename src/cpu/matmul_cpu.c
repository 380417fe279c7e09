/* CPU kernels of the matmul ops. */
#include "../ops/matmul.h"
#include <omp.h>

/* y(rows,cols) = b(cols) broadcast over rows */
static void set_bias(float *y, const float *b, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) y[r * cols + c] = b[c];
}

#define BG_WIDTH 1024 /* widest block of columns of bias_grad (its accumulators live on the stack) */

/* db(cols) += sum over rows of dy(rows,cols) */
static void bias_grad(float *db, const float *dy, int64_t rows, int64_t cols) {
  /* one block of columns per thread (at most BG_WIDTH wide), rows streamed in order: contiguous,
   * vectorisable, and every column is summed in row order whatever the blocks, so the result does
   * not depend on the thread count */
  int nt = rows * cols > 65536 ? omp_get_max_threads() : 1;
  int64_t bw = ((cols + nt - 1) / nt + 15) / 16 * 16;
  bw = bw > BG_WIDTH ? BG_WIDTH : bw;
  int64_t nb = (cols + bw - 1) / bw;
#pragma omp parallel for schedule(static) if (nt > 1 && nb > 1)
  for (int64_t blk = 0; blk < nb; blk++) {
    int64_t c0 = blk * bw, w = cols - c0 < bw ? cols - c0 : bw;
    float acc[BG_WIDTH];
    for (int64_t j = 0; j < w; j++) acc[j] = 0.0f;
    for (int64_t r = 0; r < rows; r++) {
      const float *row = dy + r * cols + c0;
#pragma omp simd
      for (int64_t j = 0; j < w; j++) acc[j] += row[j];
    }
    for (int64_t j = 0; j < w; j++) db[c0 + j] += acc[j];
  }
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_set_bias(const struct nn_backend *be, const struct nn_bias_args *a) { (void)be; set_bias(a->y, a->b, a->rows, a->cols); }
static void k_bias_grad(const struct nn_backend *be, const struct nn_bias_args *a) { (void)be; bias_grad(a->db, a->dy, a->rows, a->cols); }
const struct nn_k_matmul nn_cpu_matmul = {.set_bias = k_set_bias, .bias_grad = k_bias_grad};
