/* CPU kernels of the conv ops. */
#include "../ops/conv.h"
#include <string.h>

#define CONV_PAR_WORK 32768 /* elements below which a kernel stays single-threaded */

/* Output positions [*lo, *hi) of a row of `out` whose input index o*s - pad + k lies in [0, in). */
static void conv_valid(int64_t pad, int64_t k, int64_t s, int64_t in, int64_t out, int64_t *lo, int64_t *hi) {
  int64_t a = pad - k, b = in - 1 + pad - k;
  *lo = a > 0 ? (a + s - 1) / s : 0;
  *hi = b < 0 ? 0 : b / s + 1;
  if (*hi > out) *hi = out;
  if (*lo > *hi) *lo = *hi;
}

/* One row of a column matrix: col(wo) = x row at input column ow*s - pad + kw (zero outside), or
 * when `back`, the row scattered back: x row += col. */
static inline void conv_row(float *col, float *xrow, int64_t kw, const struct nn_conv_geom *d, int back) {
  int64_t lo, hi, s = d->stride, off = kw - d->pad; /* xrow[ow*s + off] lies under output column ow */
  conv_valid(d->pad, kw, s, d->w, d->wo, &lo, &hi);
  if (back) {
    if (s == 1)
      for (int64_t ow = lo; ow < hi; ow++) xrow[ow + off] += col[ow];
    else
      for (int64_t ow = lo; ow < hi; ow++) xrow[ow * s + off] += col[ow];
    return;
  }
  for (int64_t ow = 0; ow < lo; ow++) col[ow] = 0.0f;
  if (s == 1)
    for (int64_t ow = lo; ow < hi; ow++) col[ow] = xrow[ow + off];
  else
    for (int64_t ow = lo; ow < hi; ow++) col[ow] = xrow[ow * s + off];
  for (int64_t ow = hi; ow < d->wo; ow++) col[ow] = 0.0f;
}

/* The rows of cols(K, g*P) that come from channel c of image i, gathered from (back: scattered
 * back onto) the plane x(h,w). */
static void conv_plane(float *cols, float *x, const struct nn_conv_geom *d, int64_t g, int64_t i,
                       int64_t c, int back) {
  int64_t P = d->ho * d->wo, ld = g * P;
  for (int64_t kh = 0; kh < d->kh; kh++) {
    int64_t lo, hi;
    conv_valid(d->pad, kh, d->stride, d->h, d->ho, &lo, &hi);
    for (int64_t kw = 0; kw < d->kw; kw++) {
      float *col = cols + ((c * d->kh + kh) * d->kw + kw) * ld + i * P;
      if (!back && lo > 0) memset(col, 0, sizeof(float) * (size_t)(lo * d->wo));
      if (!back && hi < d->ho) memset(col + hi * d->wo, 0, sizeof(float) * (size_t)((d->ho - hi) * d->wo));
      for (int64_t oh = lo; oh < hi; oh++)
        conv_row(col + oh * d->wo, x + (oh * d->stride - d->pad + kh) * d->w, kw, d, back);
    }
  }
}

static void im2col(float *cols, const float *x, const struct nn_conv_geom *d, int64_t g) {
  int64_t planes = g * d->c, work = planes * d->kh * d->kw * d->ho * d->wo;
#pragma omp parallel for schedule(static) if (work > CONV_PAR_WORK)
  for (int64_t q = 0; q < planes; q++)
    conv_plane(cols, (float *)x + q * d->h * d->w, d, g, q / d->c, q % d->c, 0);
}

static void col2im(float *dx, const float *cols, const struct nn_conv_geom *d, int64_t g) {
  int64_t planes = g * d->c, work = planes * d->kh * d->kw * d->ho * d->wo;
#pragma omp parallel for schedule(static) if (work > CONV_PAR_WORK)
  for (int64_t q = 0; q < planes; q++)
    conv_plane((float *)cols, dx + q * d->h * d->w, d, g, q / d->c, q % d->c, 1);
}

static void unchunk(float *y, const float *t, const float *b, int64_t g, int64_t o, int64_t p) {
#pragma omp parallel for schedule(static) if (g * o * p > CONV_PAR_WORK)
  for (int64_t q = 0; q < g * o; q++) {
    int64_t i = q / o, c = q % o;
    float bias = b ? b[c] : 0.0f, *dst = y + q * p;
    const float *src = t + c * g * p + i * p;
    for (int64_t k = 0; k < p; k++) dst[k] = src[k] + bias;
  }
}

static void chunk(float *t, const float *dy, int64_t g, int64_t o, int64_t p) {
#pragma omp parallel for schedule(static) if (g * o * p > CONV_PAR_WORK)
  for (int64_t q = 0; q < g * o; q++) {
    int64_t i = q / o, c = q % o;
    memcpy(t + c * g * p + i * p, dy + q * p, sizeof(float) * (size_t)p);
  }
}

static void add_bias(float *y, const float *b, int64_t n, int64_t o, int64_t p) {
#pragma omp parallel for schedule(static) if (n * o * p > CONV_PAR_WORK)
  for (int64_t q = 0; q < n * o; q++) {
    float bias = b[q % o], *dst = y + q * p;
    for (int64_t k = 0; k < p; k++) dst[k] += bias;
  }
}

static void bias_grad(float *db, const float *dy, int64_t n, int64_t o, int64_t p) {
#pragma omp parallel for schedule(static) if (n * o * p > CONV_PAR_WORK)
  for (int64_t c = 0; c < o; c++) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
      const float *src = dy + (i * o + c) * p;
      float r = 0.0f;
#pragma omp simd reduction(+ : r)
      for (int64_t k = 0; k < p; k++) r += src[k];
      s += r;
    }
    db[c] += (float)s;
  }
}

const struct nn_k_conv nn_cpu_conv = {
    .cols_budget = 1 << 22, /* 16 MiB of columns per chunk */
    .im2col = im2col,
    .col2im = col2im,
    .unchunk = unchunk,
    .chunk = chunk,
    .add_bias = add_bias,
    .bias_grad = bias_grad,
};
