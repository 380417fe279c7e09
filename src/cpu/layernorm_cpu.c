/* CPU kernels of the layernorm ops. */
#include "../ops/layernorm.h"
#include <math.h>
#include <string.h>

#define LN_PAR_WORK 32768 /* elements below which a kernel stays single-threaded */
#define LN_BLOCK 32       /* rows per partial sum of dw, db (fixed: results do not depend on threads) */

static void ln_forward(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                       int64_t rows, int64_t C, float eps) {
#pragma omp parallel for schedule(static) if (rows * C > LN_PAR_WORK)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * C;
    float *yr = y + r * C, s = 0.0f, v = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < C; c++) s += xr[c];
    float m = s / (float)C;
#pragma omp simd reduction(+ : v)
    for (int64_t c = 0; c < C; c++) v += (xr[c] - m) * (xr[c] - m);
    float rs = 1.0f / sqrtf(v / (float)C + eps);
    mean[r] = m;
    rstd[r] = rs;
    if (w && b) {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) yr[c] = (xr[c] - m) * rs * w[c] + b[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) yr[c] = (xr[c] - m) * rs * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
    }
  }
}

static int64_t ln_backward_work(int64_t rows, int64_t C) { return 2 * C * ((rows + LN_BLOCK - 1) / LN_BLOCK); }

/* dx(C) += rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w */
static void ln_row_dx(float *dx, const float *dy, const float *x, float m, float rs, const float *w, int64_t C) {
  float a = 0.0f, bb = 0.0f;
#pragma omp simd reduction(+ : a, bb)
  for (int64_t c = 0; c < C; c++) {
    float gw = dy[c] * (w ? w[c] : 1.0f);
    a += gw;
    bb += gw * (x[c] - m) * rs;
  }
  a /= (float)C;
  bb /= (float)C;
#pragma omp simd
  for (int64_t c = 0; c < C; c++) dx[c] += rs * (dy[c] * (w ? w[c] : 1.0f) - a - (x[c] - m) * rs * bb);
}

static void ln_backward(float *dx, float *dw, float *db, float *work, const float *dy, const float *x,
                        const float *mean, const float *rstd, const float *w, int64_t rows, int64_t C) {
  int64_t nblk = (rows + LN_BLOCK - 1) / LN_BLOCK;
  int params = dw || db;
#pragma omp parallel for schedule(static) if (rows * C > LN_PAR_WORK)
  for (int64_t k = 0; k < nblk; k++) {
    float *pw = work + 2 * k * C, *pb = pw + C;
    if (params) {
      memset(pw, 0, sizeof(float) * 2 * (size_t)C);
    }
    int64_t r1 = (k + 1) * LN_BLOCK < rows ? (k + 1) * LN_BLOCK : rows;
    for (int64_t r = k * LN_BLOCK; r < r1; r++) {
      const float *dyr = dy + r * C, *xr = x + r * C;
      float m = mean[r], rs = rstd[r];
      if (dx) ln_row_dx(dx + r * C, dyr, xr, m, rs, w, C);
      if (params) {
#pragma omp simd
        for (int64_t c = 0; c < C; c++) {
          pw[c] += dyr[c] * (xr[c] - m) * rs;
          pb[c] += dyr[c];
        }
      }
    }
  }
  if (!params) return;
#pragma omp parallel for schedule(static) if (nblk * C > LN_PAR_WORK)
  for (int64_t c = 0; c < C; c++) {
    float sw = 0.0f, sb = 0.0f;
    for (int64_t k = 0; k < nblk; k++) {
      sw += work[2 * k * C + c];
      sb += work[2 * k * C + C + c];
    }
    if (dw) dw[c] += sw;
    if (db) db[c] += sb;
  }
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_forward(const struct nn_backend *be, const struct nn_layernorm_args *a) {
  (void)be;
  ln_forward(a->y, a->mean, a->rstd, a->x, a->w, a->b, a->rows, a->C, a->eps);
}
static int64_t k_backward_work(const struct nn_backend *be, const struct nn_layernorm_args *a) {
  (void)be;
  return ln_backward_work(a->rows, a->C);
}
static void k_backward(const struct nn_backend *be, const struct nn_layernorm_args *a) {
  (void)be;
  ln_backward(a->dx, a->dw, a->db, a->work, a->dy, a->x, a->mean, a->rstd, a->w, a->rows, a->C);
}
const struct nn_k_layernorm nn_cpu_layernorm = {.forward = k_forward, .backward_work = k_backward_work, .backward = k_backward};
