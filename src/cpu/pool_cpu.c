/* CPU kernels of the pool ops. Fixed windows loop over window offsets outside and output columns
 * inside (independent iterations the compiler vectorises); adaptive windows loop per output. */
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

/* Fixed windows: output columns [*lo, *hi) whose window column j (input ow*stride - pad + j) lies in [0, w). */
static inline void pool_cols(const struct nn_pool_geom *d, int64_t j, int64_t *lo, int64_t *hi) {
  int64_t a = d->pad - j, b = d->w - 1 + d->pad - j, s = d->stride;
  *lo = a > 0 ? (a + s - 1) / s : 0;
  *hi = b < 0 ? 0 : b / s + 1;
  if (*hi > d->wo) *hi = d->wo;
  if (*lo > *hi) *lo = *hi;
}

/* The column ranges of pool_cols for the first POOL_KMAX window columns, computed once per call. */
#define POOL_KMAX 16
struct pool_colr {
  int64_t lo[POOL_KMAX], hi[POOL_KMAX];
};
static void pool_colr_init(struct pool_colr *c, const struct nn_pool_geom *d) {
  for (int64_t j = 0; j < d->k && j < POOL_KMAX; j++) pool_cols(d, j, &c->lo[j], &c->hi[j]);
}
static inline void pool_colr_get(const struct pool_colr *c, const struct nn_pool_geom *d, int64_t j, int64_t *lo,
                                 int64_t *hi) {
  if (j < POOL_KMAX) {
    *lo = c->lo[j];
    *hi = c->hi[j];
  } else {
    pool_cols(d, j, lo, hi);
  }
}

/* Window size of fixed-window output column ow (padding counted). */
static inline float pool_span_w(const struct nn_pool_geom *d, int64_t ow) {
  int64_t lo, hi, span;
  pool_window(d, ow, d->w, d->wo, &lo, &hi, &span);
  return (float)span;
}

/* Max-pool update: v at index i replaces the current best when larger (or NaN), as torch. */
static inline void max_take(float *best, int32_t *at, float v, int64_t i) {
  int take = v > *best || v != v;
  *best = take ? v : *best;
  *at = take ? (int32_t)i : *at;
}

/* 2x2 windows, stride 2, no padding (the common case): one output row, its inputs in rows r0 and r0 + W. */
static void max_row_2x2(float *yr, int32_t *ar, const float *xp, int64_t r0, int64_t W, int64_t WO) {
  for (int64_t ow = 0; ow < WO; ow++) {
    int64_t i = r0 + 2 * ow;
    float b = -INFINITY;
    int32_t a = (int32_t)i;
    max_take(&b, &a, xp[i], i);
    max_take(&b, &a, xp[i + 1], i + 1);
    max_take(&b, &a, xp[i + W], i + W);
    max_take(&b, &a, xp[i + W + 1], i + W + 1);
    yr[ow] = b;
    ar[ow] = a;
  }
}

/* One output row oh of a plane for any fixed window: window positions in row-major order, a later
 * one wins only when larger (or NaN), as torch. */
static void max_row(float *yr, int32_t *ar, const float *xp, int64_t oh, const struct nn_pool_geom *d,
                    const struct pool_colr *cr) {
  const int64_t W = d->w, s = d->stride;
  int64_t h0, h1, sh;
  pool_window(d, oh, d->h, d->ho, &h0, &h1, &sh);
  for (int64_t ow = 0; ow < d->wo; ow++) { /* torch's start: the first valid position */
    int64_t w0 = ow * s - d->pad;
    yr[ow] = -INFINITY;
    ar[ow] = (int32_t)(h0 * W + (w0 < 0 ? 0 : w0));
  }
  for (int64_t ih = h0; ih < h1; ih++)
    for (int64_t j = 0; j < d->k; j++) {
      int64_t lo, hi, off = ih * W + j - d->pad;
      pool_colr_get(cr, d, j, &lo, &hi);
      if (s == 1)
        for (int64_t ow = lo; ow < hi; ow++) max_take(yr + ow, ar + ow, xp[ow + off], ow + off);
      else
        for (int64_t ow = lo; ow < hi; ow++) max_take(yr + ow, ar + ow, xp[ow * s + off], ow * s + off);
    }
}

static void max_fwd(float *y, int32_t *arg, const float *x, const struct nn_pool_geom *d) {
  const int k22 = d->k == 2 && d->stride == 2 && d->pad == 0;
  struct pool_colr cr;
  pool_colr_init(&cr, d);
#pragma omp parallel for schedule(static) if (d->planes * d->ho * d->wo > POOL_PAR_WORK)
  for (int64_t q = 0; q < d->planes; q++)
    for (int64_t oh = 0; oh < d->ho; oh++) {
      int64_t r = (q * d->ho + oh) * d->wo;
      if (k22) max_row_2x2(y + r, arg + r, x + q * d->h * d->w, 2 * oh * d->w, d->w, d->wo);
      else max_row(y + r, arg + r, x + q * d->h * d->w, oh, d, &cr);
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

/* One plane of fixed-window average pooling: yp(ho,wo) = window means of xp(h,w), or when
 * back, xp += each window's share of yp. */
static void avg_plane_fixed(float *yp, float *xp, const struct nn_pool_geom *d, const struct pool_colr *cr,
                            int back) {
  const int64_t W = d->w, WO = d->wo, s = d->stride;
  for (int64_t oh = 0; oh < d->ho; oh++) {
    int64_t h0, h1, sh;
    pool_window(d, oh, d->h, d->ho, &h0, &h1, &sh);
    float *yr = yp + oh * WO;
    if (!back)
      for (int64_t ow = 0; ow < WO; ow++) yr[ow] = 0.0f;
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t j = 0; j < d->k; j++) {
        int64_t lo, hi, off = ih * W + j - d->pad;
        pool_colr_get(cr, d, j, &lo, &hi);
        if (back && s == 1)
          for (int64_t ow = lo; ow < hi; ow++) xp[ow + off] += yr[ow] / ((float)sh * pool_span_w(d, ow));
        else if (back)
          for (int64_t ow = lo; ow < hi; ow++) xp[ow * s + off] += yr[ow] / ((float)sh * pool_span_w(d, ow));
        else if (s == 1)
          for (int64_t ow = lo; ow < hi; ow++) yr[ow] += xp[ow + off];
        else
          for (int64_t ow = lo; ow < hi; ow++) yr[ow] += xp[ow * s + off];
      }
    if (!back)
      for (int64_t ow = 0; ow < WO; ow++) yr[ow] /= (float)sh * pool_span_w(d, ow);
  }
}

/* One plane of adaptive average pooling, as avg_plane_fixed. */
static void avg_plane_adaptive(float *yp, float *xp, const struct nn_pool_geom *d, int back) {
  const int64_t W = d->w, hw = d->h * d->w;
  if (d->ho == 1 && d->wo == 1) { /* global average pooling: the plane's mean */
    float acc = 0.0f, g = *yp / (float)hw;
    if (back)
      for (int64_t i = 0; i < hw; i++) xp[i] += g;
    else {
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < hw; i++) acc += xp[i];
      *yp = acc / (float)hw;
    }
    return;
  }
  for (int64_t oh = 0; oh < d->ho; oh++) {
    int64_t h0, h1, sh, w0, w1, sw;
    pool_window(d, oh, d->h, d->ho, &h0, &h1, &sh);
    for (int64_t ow = 0; ow < d->wo; ow++) {
      pool_window(d, ow, W, d->wo, &w0, &w1, &sw);
      float *yj = yp + oh * d->wo + ow, div = (float)(sh * sw), acc = 0.0f;
      for (float *r = xp + h0 * W; r < xp + h1 * W; r += W) {
        if (back) {
          for (int64_t iw = w0; iw < w1; iw++) r[iw] += *yj / div;
        } else {
#pragma omp simd reduction(+ : acc)
          for (int64_t iw = w0; iw < w1; iw++) acc += r[iw];
        }
      }
      if (!back) *yj = acc / div;
    }
  }
}

/* Average pooling over every plane (back: its gradient), y(planes,ho,wo) and x(planes,h,w). */
static void avg_pass(float *y, float *x, const struct nn_pool_geom *d, int back) {
  struct pool_colr cr;
  if (!d->adaptive) pool_colr_init(&cr, d);
#pragma omp parallel for schedule(static) if (d->planes * d->ho * d->wo > POOL_PAR_WORK)
  for (int64_t q = 0; q < d->planes; q++) {
    float *yp = y + q * d->ho * d->wo, *xp = x + q * d->h * d->w;
    if (d->adaptive) avg_plane_adaptive(yp, xp, d, back);
    else avg_plane_fixed(yp, xp, d, &cr, back);
  }
}

static void avg_fwd(float *y, const float *x, const struct nn_pool_geom *d) { avg_pass(y, (float *)x, d, 0); }
static void avg_bwd(float *dx, const float *dy, const struct nn_pool_geom *d) { avg_pass((float *)dy, dx, d, 1); }


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_max_fwd(const struct nn_backend *be, const struct nn_pool_args *a) { (void)be; max_fwd(a->y, a->arg, a->x, &a->d); }
static void k_max_bwd(const struct nn_backend *be, const struct nn_pool_args *a) { (void)be; max_bwd(a->dx, a->dy, a->arg, &a->d); }
static void k_avg_fwd(const struct nn_backend *be, const struct nn_pool_args *a) { (void)be; avg_fwd(a->y, a->x, &a->d); }
static void k_avg_bwd(const struct nn_backend *be, const struct nn_pool_args *a) { (void)be; avg_bwd(a->dx, a->dy, &a->d); }
const struct nn_k_pool nn_cpu_pool = {.max_fwd = k_max_fwd, .max_bwd = k_max_bwd, .avg_fwd = k_avg_fwd, .avg_bwd = k_avg_bwd};
