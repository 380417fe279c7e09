/* CPU kernels of the pool ops. */
#include "../ops/pool.h"
#include <math.h>

#define POOL_PAR_WORK 32768 /* output elements below which a kernel stays single-threaded */

/* Window of output index o along an axis of `in` inputs and `out` outputs: the inputs
 * [*lo, *hi) it covers and its size *span (padding included for fixed windows, as torch). */
static inline void pool_window(const struct nn_pool_geom *d, int64_t o, int64_t in, int64_t out, int64_t *lo,
                               int64_t *hi, int64_t *span) {
  if (d->adaptive) {
    *lo = o * in / out;
    *hi = ((o + 1) * in + out - 1) / out;
    *span = *hi - *lo;
    return;
  }
  int64_t start = o * d->stride - d->pad, end = start + d->k;
  if (end > in + d->pad) end = in + d->pad;
  *span = end - start;
  *lo = start < 0 ? 0 : start;
  *hi = end > in ? in : end;
}

static void max_fwd(float *y, int32_t *arg, const float *x, const struct nn_pool_geom *d) {
#pragma omp parallel for schedule(static) if (d->planes * d->ho * d->wo > POOL_PAR_WORK)
  for (int64_t q = 0; q < d->planes; q++) {
    const float *xp = x + q * d->h * d->w;
    for (int64_t oh = 0; oh < d->ho; oh++) {
      int64_t h0, h1, sh, w0, w1, sw;
      pool_window(d, oh, d->h, d->ho, &h0, &h1, &sh);
      for (int64_t ow = 0; ow < d->wo; ow++) {
        pool_window(d, ow, d->w, d->wo, &w0, &w1, &sw);
        float best = -INFINITY;
        int64_t at = h0 * d->w + w0;
        for (int64_t ih = h0; ih < h1; ih++)
          for (int64_t iw = w0; iw < w1; iw++) {
            float v = xp[ih * d->w + iw];
            if (v > best || isnan(v)) {
              best = v;
              at = ih * d->w + iw;
            }
          }
        int64_t j = (q * d->ho + oh) * d->wo + ow;
        y[j] = best;
        arg[j] = (int32_t)at;
      }
    }
  }
}

static void max_bwd(float *dx, const float *dy, const int32_t *arg, const struct nn_pool_geom *d) {
  int64_t per = d->ho * d->wo;
#pragma omp parallel for schedule(static) if (d->planes * per > POOL_PAR_WORK)
  for (int64_t q = 0; q < d->planes; q++) {
    float *dxp = dx + q * d->h * d->w;
    for (int64_t j = q * per; j < (q + 1) * per; j++) dxp[arg[j]] += dy[j];
  }
}

/* Mean of each window (fwd), or each window's gradient share added to dx (bwd). */
static void avg_pass(float *y, float *x, const struct nn_pool_geom *d, int back) {
#pragma omp parallel for schedule(static) if (d->planes * d->ho * d->wo > POOL_PAR_WORK)
  for (int64_t q = 0; q < d->planes; q++) {
    float *xp = x + q * d->h * d->w;
    for (int64_t oh = 0; oh < d->ho; oh++) {
      int64_t h0, h1, sh, w0, w1, sw;
      pool_window(d, oh, d->h, d->ho, &h0, &h1, &sh);
      for (int64_t ow = 0; ow < d->wo; ow++) {
        pool_window(d, ow, d->w, d->wo, &w0, &w1, &sw);
        float *yj = y + (q * d->ho + oh) * d->wo + ow, div = (float)(sh * sw);
        if (back) {
          float gshare = *yj / div;
          for (int64_t ih = h0; ih < h1; ih++)
            for (int64_t iw = w0; iw < w1; iw++) xp[ih * d->w + iw] += gshare;
        } else {
          float s = 0.0f;
          for (int64_t ih = h0; ih < h1; ih++)
            for (int64_t iw = w0; iw < w1; iw++) s += xp[ih * d->w + iw];
          *yj = s / div;
        }
      }
    }
  }
}

static void avg_fwd(float *y, const float *x, const struct nn_pool_geom *d) { avg_pass(y, (float *)x, d, 0); }
static void avg_bwd(float *dx, const float *dy, const struct nn_pool_geom *d) { avg_pass((float *)dy, dx, d, 1); }

const struct nn_k_pool nn_cpu_pool = {.max_fwd = max_fwd, .max_bwd = max_bwd, .avg_fwd = avg_fwd, .avg_bwd = avg_bwd};
