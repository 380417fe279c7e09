/* CPU kernels of the conv ops: per image, im2col into a cache-sized column matrix and one sgemm.
 * With T > 1 threads and at least T images, images are spread over the threads (each with its
 * own columns, weight-gradient partial and a single-threaded sgemm); otherwise images run one
 * after another with nn_cpu_sgemm over the threads and im2col parallel over channels. */
#include "../ops/conv.h"
#include <omp.h>
#include <string.h>

#define CONV_PAR_WORK 32768        /* elements below which a loop stays single-threaded */
#define CONV_PARTIAL_MAX (1 << 24) /* most floats of per-thread weight-gradient partials */

/* 1 when an image is its own column matrix (1x1 kernel, stride 1, no padding). */
static int conv_pointwise(const struct nn_conv_geom *d) {
  return d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0;
}

/* Floats of one image's column matrix cols(c*kh*kw, ho*wo) (0 for pointwise convolutions). */
static int64_t conv_cols(const struct nn_conv_geom *d) {
  return conv_pointwise(d) ? 0 : d->c * d->kh * d->kw * d->ho * d->wo;
}

/* Threads of the image-parallel scheme for d, or 1 for images one after another. */
static int conv_threads(const struct nn_conv_geom *d, int bwd) {
  int t = omp_get_max_threads();
  if (t < 2 || d->n < t) return 1;
  if (bwd && (int64_t)t * d->o * d->c * d->kh * d->kw > CONV_PARTIAL_MAX) return 1;
  return t;
}

/* c(m,n) = alpha * op(a) op(b) + beta * c, row-major with leading dimensions (backend_cpu.c: over the
 * OpenMP threads outside a parallel region, single-threaded inside one) */
void nn_cpu_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* Output positions [*lo, *hi) of a row of `out` whose input index o*s - pad + k lies in [0, in). */
static void conv_valid(int64_t pad, int64_t k, int64_t s, int64_t in, int64_t out, int64_t *lo, int64_t *hi) {
  int64_t a = pad - k, b = in - 1 + pad - k;
  *lo = a > 0 ? (a + s - 1) / s : 0;
  *hi = b < 0 ? 0 : b / s + 1;
  if (*hi > out) *hi = out;
  if (*lo > *hi) *lo = *hi;
}

/* One row of a column matrix: col(wo) = x row at input column ow*s - pad + kw for ow in [lo, hi)
 * (zero outside), or when `back`, the row scattered back: x row += col. */
static inline void conv_row(float *col, float *xrow, int64_t kw, int64_t lo, int64_t hi, const struct nn_conv_geom *d,
                            int back) {
  int64_t s = d->stride, off = kw - d->pad; /* xrow[ow*s + off] lies under output column ow */
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

/* The kh*kw rows of cols(c*kh*kw, ho*wo) that come from channel c, gathered from (back: scattered
 * back onto) the plane x(h,w) of that channel. */
static void conv_plane(float *cols, float *x, const struct nn_conv_geom *d, int64_t c, int back) {
  int64_t P = d->ho * d->wo;
  for (int64_t kh = 0; kh < d->kh; kh++) {
    int64_t lo, hi;
    conv_valid(d->pad, kh, d->stride, d->h, d->ho, &lo, &hi);
    for (int64_t kw = 0; kw < d->kw; kw++) {
      float *col = cols + ((c * d->kh + kh) * d->kw + kw) * P;
      int64_t wlo, whi;
      conv_valid(d->pad, kw, d->stride, d->w, d->wo, &wlo, &whi);
      if (!back && lo > 0) memset(col, 0, sizeof(float) * (size_t)(lo * d->wo));
      if (!back && hi < d->ho) memset(col + hi * d->wo, 0, sizeof(float) * (size_t)((d->ho - hi) * d->wo));
      for (int64_t oh = lo; oh < hi; oh++)
        conv_row(col + oh * d->wo, x + (oh * d->stride - d->pad + kh) * d->w, kw, wlo, whi, d, back);
    }
  }
}

/* cols(c*kh*kw, ho*wo) = patches of one image x(c,h,w), zero where padded; threads over channels when par */
static void im2col(float *cols, const float *x, const struct nn_conv_geom *d, int par) {
#pragma omp parallel for schedule(static) if (par && conv_cols(d) > CONV_PAR_WORK)
  for (int64_t c = 0; c < d->c; c++) conv_plane(cols, (float *)x + c * d->h * d->w, d, c, 0);
}

/* dx(c,h,w) += cols(c*kh*kw, ho*wo) summed back onto the pixels each column came from */
static void col2im(float *dx, const float *cols, const struct nn_conv_geom *d, int par) {
#pragma omp parallel for schedule(static) if (par && conv_cols(d) > CONV_PAR_WORK)
  for (int64_t c = 0; c < d->c; c++) conv_plane((float *)cols, dx + c * d->h * d->w, d, c, 1);
}

/* y(o,p) = w(o,K) @ cols(K,p) + b(o) for one image x(c,h,w) */
static void conv_image_fwd(float *y, const float *x, const float *w, const float *b, const struct nn_conv_geom *d,
                           float *cols, int par) {
  int64_t K = d->c * d->kh * d->kw, P = d->ho * d->wo;
  const float *src = x;
  if (!conv_pointwise(d)) {
    im2col(cols, x, d, par);
    src = cols;
  }
  nn_cpu_sgemm(0, 0, d->o, P, K, 1.0f, w, K, src, P, 0.0f, y, P);
  if (!b) return;
#pragma omp parallel for schedule(static) if (par && d->o * P > CONV_PAR_WORK)
  for (int64_t o = 0; o < d->o; o++)
    for (int64_t p = 0; p < P; p++) y[o * P + p] += b[o];
}

/* For one image: dw(o,K) += dy(o,p) @ cols(K,p)^T and dx(c,h,w) += col2im(w^T @ dy); NULL: skipped */
static void conv_image_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w,
                           const struct nn_conv_geom *d, float *cols, int par) {
  int64_t K = d->c * d->kh * d->kw, P = d->ho * d->wo;
  int pw = conv_pointwise(d);
  if (dw) {
    if (!pw) im2col(cols, x, d, par);
    nn_cpu_sgemm(0, 1, d->o, K, P, 1.0f, dy, P, pw ? x : cols, P, 1.0f, dw, K);
  }
  if (dx) {
    nn_cpu_sgemm(1, 0, K, P, d->o, 1.0f, w, K, dy, P, pw ? 1.0f : 0.0f, pw ? dx : cols, P);
    if (!pw) col2im(dx, cols, d, par);
  }
}

static int64_t scratch_floats(const struct nn_conv_geom *d, int bwd) {
  int t = conv_threads(d, bwd);
  return t * conv_cols(d) + (bwd && t > 1 ? (int64_t)t * d->o * d->c * d->kh * d->kw : 0);
}

static void fwd(float *y, const float *x, const float *w, const float *b, const struct nn_conv_geom *d,
                float *scratch) {
  int64_t xs = d->c * d->h * d->w, ys = d->o * d->ho * d->wo, cs = conv_cols(d);
  int t = conv_threads(d, 0);
  if (t == 1) {
    for (int64_t i = 0; i < d->n; i++) conv_image_fwd(y + i * ys, x + i * xs, w, b, d, scratch, 1);
    return;
  }
#pragma omp parallel num_threads(t)
  {
    float *cols = scratch ? scratch + omp_get_thread_num() * cs : NULL;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < d->n; i++) conv_image_fwd(y + i * ys, x + i * xs, w, b, d, cols, 0);
  }
}

/* db(o) += sum over images and positions of dy(n,o,p) */
static void bias_grad(float *db, const float *dy, const struct nn_conv_geom *d) {
  int64_t P = d->ho * d->wo;
#pragma omp parallel for schedule(static) if (d->n * d->o * P > CONV_PAR_WORK)
  for (int64_t o = 0; o < d->o; o++) {
    double s = 0.0;
    for (int64_t i = 0; i < d->n; i++) {
      const float *src = dy + (i * d->o + o) * P;
      float r = 0.0f;
#pragma omp simd reduction(+ : r)
      for (int64_t p = 0; p < P; p++) r += src[p];
      s += r;
    }
    db[o] += (float)s;
  }
}

static void bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                const struct nn_conv_geom *d, float *scratch) {
  int64_t xs = d->c * d->h * d->w, ys = d->o * d->ho * d->wo, cs = conv_cols(d), wk = d->o * d->c * d->kh * d->kw;
  if (db) bias_grad(db, dy, d);
  if (!dx && !dw) return;
  int t = conv_threads(d, 1);
  if (t == 1) {
    for (int64_t i = 0; i < d->n; i++)
      conv_image_bwd(dx ? dx + i * xs : NULL, dw, dy + i * ys, x + i * xs, w, d, scratch, 1);
    return;
  }
  float *parts = scratch + t * cs; /* t weight-gradient partials of wk floats */
#pragma omp parallel num_threads(t)
  {
    int me = omp_get_thread_num(), nt = omp_get_num_threads();
    float *cols = cs ? scratch + me * cs : NULL, *part = dw ? parts + me * wk : NULL;
    if (part) memset(part, 0, sizeof(float) * (size_t)wk);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < d->n; i++)
      conv_image_bwd(dx ? dx + i * xs : NULL, part, dy + i * ys, x + i * xs, w, d, cols, 0);
    if (dw) { /* after the loop's barrier: sum the partials in thread order (deterministic) */
#pragma omp for schedule(static)
      for (int64_t j = 0; j < wk; j++) {
        float s = 0.0f;
        for (int k = 0; k < nt; k++) s += parts[k * wk + j];
        dw[j] += s;
      }
    }
  }
}


/* the kernel table: adapters from the argument struct to the kernels above */
static int64_t k_scratch(const struct nn_backend *be, const struct nn_conv_args *a, int b) {
  (void)be;
  return scratch_floats(&a->d, b);
}
static void k_fwd(const struct nn_backend *be, const struct nn_conv_args *a) { (void)be; fwd(a->y, a->x, a->w, a->b, &a->d, a->scratch); }
static void k_bwd(const struct nn_backend *be, const struct nn_conv_args *a) {
  (void)be;
  bwd(a->dx, a->dw, a->db, a->dy, a->x, a->w, &a->d, a->scratch);
}
const struct nn_k_conv nn_cpu_conv = {.scratch_floats = k_scratch, .fwd = k_fwd, .bwd = k_bwd};
