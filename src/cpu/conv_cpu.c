/* CPU kernels of the conv ops: images in groups of G, each group one column matrix
 * cols(c*kh*kw, G*ho*wo) (image g in columns [g*P, (g+1)*P)) and one sgemm, so the small maps of a
 * ResNet's late stages still make wide products (G*P near CONV_GROUP_COLS). A pointwise conv (1x1,
 * stride 1, no padding) of a group of one image multiplies the image itself (no copy).
 * With T > 1 threads and at least T images, groups are spread over the threads (each with its own
 * columns, staging, weight-gradient partial and a single-threaded sgemm); otherwise groups run one
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

#define CONV_GROUP_COLS 1024      /* columns G*P a group aims at */
#define CONV_GROUP_FLOATS (1 << 22) /* most floats of one group's column matrix */

/* Threads of the image-parallel scheme for d, or 1 for groups one after another. */
static int conv_threads(const struct nn_conv_geom *d, int bwd) {
  int t = omp_get_max_threads();
  if (t < 2 || d->n < t) return 1;
  if (bwd && (int64_t)t * d->o * d->c * d->kh * d->kw > CONV_PARTIAL_MAX) return 1;
  return t;
}

/* Images per group for t threads: G*P near CONV_GROUP_COLS, the columns within CONV_GROUP_FLOATS,
 * and at least t groups when t > 1. */
static int64_t conv_group(const struct nn_conv_geom *d, int t) {
  int64_t P = d->ho * d->wo, K = d->c * d->kh * d->kw, g = CONV_GROUP_COLS / P;
  if (g > CONV_GROUP_FLOATS / (K * P)) g = CONV_GROUP_FLOATS / (K * P);
  if (t > 1 && g > d->n / t) g = d->n / t;
  if (g > d->n) g = d->n;
  return g < 1 ? 1 : g;
}

/* Floats of one group's column matrix (0 for a pointwise convolution of single images). */
static int64_t conv_cols(const struct nn_conv_geom *d, int64_t G) {
  return G == 1 && conv_pointwise(d) ? 0 : d->c * d->kh * d->kw * G * d->ho * d->wo;
}

/* Floats of one group's output staging yg(o, G*P) (0 for single images, which use y directly). */
static int64_t conv_stage(const struct nn_conv_geom *d, int64_t G) { return G == 1 ? 0 : d->o * G * d->ho * d->wo; }

/* c(m,n) = alpha * op(a) op(b) + beta * c, row-major with leading dimensions (backend_cpu.c: over the
 * OpenMP threads outside a parallel region, single-threaded inside one) */
void nn_cpu_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* GCC turns the short zero-fill loops of im2col into memset calls, whose call overhead on runs of 4-32
 * floats (late ResNet stages, padding rows) cost more than the copies themselves: keep them loops. */
#if defined(__GNUC__) && !defined(__clang__)
#define CONV_NO_MEMSET __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define CONV_NO_MEMSET
#endif

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
CONV_NO_MEMSET static inline void conv_row(float *col, float *xrow, int64_t kw, int64_t lo, int64_t hi, const struct nn_conv_geom *d,
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

/* The kh*kw rows (row stride ld) of cols(c*kh*kw, ho*wo) that come from channel c, gathered from
 * (back: scattered back onto) the plane x(h,w) of that channel. */
CONV_NO_MEMSET static void conv_plane(float *cols, int64_t ld, float *x, const struct nn_conv_geom *d, int64_t c,
                                     int back) {
  if (d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0) { /* pointwise: a copy */
    int64_t P = d->h * d->w;
    float *col = cols + c * ld;
    if (back)
      for (int64_t p = 0; p < P; p++) x[p] += col[p];
    else
      memcpy(col, x, sizeof(float) * (size_t)P);
    return;
  }
  for (int64_t kh = 0; kh < d->kh; kh++) {
    int64_t lo, hi;
    conv_valid(d->pad, kh, d->stride, d->h, d->ho, &lo, &hi);
    for (int64_t kw = 0; kw < d->kw; kw++) {
      float *col = cols + ((c * d->kh + kh) * d->kw + kw) * ld;
      int64_t wlo, whi;
      conv_valid(d->pad, kw, d->stride, d->w, d->wo, &wlo, &whi);
      if (!back) {
        for (int64_t p = 0; p < lo * d->wo; p++) col[p] = 0.0f;
        for (int64_t p = hi * d->wo; p < d->ho * d->wo; p++) col[p] = 0.0f;
      }
      for (int64_t oh = lo; oh < hi; oh++)
        conv_row(col + oh * d->wo, x + (oh * d->stride - d->pad + kh) * d->w, kw, wlo, whi, d, back);
    }
  }
}

/* cols(c*kh*kw, ld) columns [0, ho*wo) = patches of one image x(c,h,w), zero where padded; threads
 * over channels when par */
static void im2col(float *cols, int64_t ld, const float *x, const struct nn_conv_geom *d, int par) {
#pragma omp parallel for schedule(static) if (par && d->c * d->kh * d->kw * d->ho * d->wo > CONV_PAR_WORK)
  for (int64_t c = 0; c < d->c; c++) conv_plane(cols, ld, (float *)x + c * d->h * d->w, d, c, 0);
}

/* dx(c,h,w) += cols(c*kh*kw, ld) columns [0, ho*wo) summed back onto the pixels each column came from */
static void col2im(float *dx, const float *cols, int64_t ld, const struct nn_conv_geom *d, int par) {
#pragma omp parallel for schedule(static) if (par && d->c * d->kh * d->kw * d->ho * d->wo > CONV_PAR_WORK)
  for (int64_t c = 0; c < d->c; c++) conv_plane((float *)cols, ld, dx + c * d->h * d->w, d, c, 1);
}

/* The column matrix of the G images x(G,c,h,w): cols(K, G*P), or x itself for one pointwise image */
static const float *group_cols(float *cols, const float *x, const struct nn_conv_geom *d, int64_t G, int par) {
  int64_t P = d->ho * d->wo, xs = d->c * d->h * d->w;
  if (G == 1 && conv_pointwise(d)) return x;
  for (int64_t g = 0; g < G; g++) im2col(cols + g * P, G * P, x + g * xs, d, par);
  return cols;
}

/* y(G,o,p) = w(o,K) @ cols(K, G*P) + b(o) for the G images x(G,c,h,w) */
static void conv_group_fwd(float *y, const float *x, const float *w, const float *b, const struct nn_conv_geom *d,
                           int64_t G, float *cols, float *stage, int par) {
  int64_t K = d->c * d->kh * d->kw, P = d->ho * d->wo, GP = G * P;
  const float *src = group_cols(cols, x, d, G, par);
  float *dst = G == 1 ? y : stage;
  nn_cpu_sgemm(0, 0, d->o, GP, K, 1.0f, w, K, src, GP, 0.0f, dst, GP);
  if (G == 1 && !b) return;
#pragma omp parallel for schedule(static) if (par && d->o * GP > CONV_PAR_WORK)
  for (int64_t o = 0; o < d->o; o++) {
    float bo = b ? b[o] : 0.0f;
    for (int64_t g = 0; g < G; g++) {
      float *yr = y + (g * d->o + o) * P;
      const float *sr = dst + o * GP + g * P;
      for (int64_t p = 0; p < P; p++) yr[p] = sr[p] + bo;
    }
  }
}

/* For the G images of a group: dw(o,K) += dy(o, G*P) @ cols(K, G*P)^T and dx(G,c,h,w) += col2im(w^T @ dy);
 * NULL: skipped */
static void conv_group_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w,
                           const struct nn_conv_geom *d, int64_t G, float *cols, float *stage, int par) {
  int64_t K = d->c * d->kh * d->kw, P = d->ho * d->wo, GP = G * P, xs = d->c * d->h * d->w;
  int pw = conv_pointwise(d);
  const float *dyg = dy;
  if (G > 1) { /* dy(G,o,P) -> stage(o, G*P) */
#pragma omp parallel for schedule(static) if (par && d->o * GP > CONV_PAR_WORK)
    for (int64_t o = 0; o < d->o; o++)
      for (int64_t g = 0; g < G; g++) memcpy(stage + o * GP + g * P, dy + (g * d->o + o) * P, sizeof(float) * (size_t)P);
    dyg = stage;
  }
  if (dw) nn_cpu_sgemm(0, 1, d->o, K, GP, 1.0f, dyg, GP, group_cols(cols, x, d, G, par), GP, 1.0f, dw, K);
  if (!dx) return;
  if (G == 1 && pw) { /* dx(c,P) += w^T @ dy directly */
    nn_cpu_sgemm(1, 0, K, P, d->o, 1.0f, w, K, dyg, P, 1.0f, dx, P);
    return;
  }
  nn_cpu_sgemm(1, 0, K, GP, d->o, 1.0f, w, K, dyg, GP, 0.0f, cols, GP);
  for (int64_t g = 0; g < G; g++) col2im(dx + g * xs, cols + g * P, GP, d, par);
}

/* Per-thread scratch of the group scheme: columns, then staging. */
static int64_t thread_floats(const struct nn_conv_geom *d, int64_t G) { return conv_cols(d, G) + conv_stage(d, G); }

static int64_t scratch_floats(const struct nn_conv_geom *d, int bwd) {
  int t = conv_threads(d, bwd);
  int64_t G = conv_group(d, t);
  return t * thread_floats(d, G) + (bwd && t > 1 ? (int64_t)t * d->o * d->c * d->kh * d->kw : 0);
}

static void fwd(float *y, const float *x, const float *w, const float *b, const struct nn_conv_geom *d,
                float *scratch) {
  int64_t xs = d->c * d->h * d->w, ys = d->o * d->ho * d->wo;
  int t = conv_threads(d, 0);
  int64_t G = conv_group(d, t), tf = thread_floats(d, G), cs = conv_cols(d, G), ng = (d->n + G - 1) / G;
  if (t == 1) {
    for (int64_t i = 0; i < d->n; i += G) {
      int64_t gi = d->n - i < G ? d->n - i : G;
      conv_group_fwd(y + i * ys, x + i * xs, w, b, d, gi, scratch, scratch ? scratch + cs : NULL, 1);
    }
    return;
  }
#pragma omp parallel num_threads(t)
  {
    float *mine = scratch ? scratch + omp_get_thread_num() * tf : NULL;
#pragma omp for schedule(static)
    for (int64_t j = 0; j < ng; j++) {
      int64_t i = j * G, gi = d->n - i < G ? d->n - i : G;
      conv_group_fwd(y + i * ys, x + i * xs, w, b, d, gi, mine, mine ? mine + cs : NULL, 0);
    }
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
  int64_t xs = d->c * d->h * d->w, ys = d->o * d->ho * d->wo, wk = d->o * d->c * d->kh * d->kw;
  if (db) bias_grad(db, dy, d);
  if (!dx && !dw) return;
  int t = conv_threads(d, 1);
  int64_t G = conv_group(d, t), tf = thread_floats(d, G), cs = conv_cols(d, G), ng = (d->n + G - 1) / G;
  if (t == 1) {
    for (int64_t i = 0; i < d->n; i += G) {
      int64_t gi = d->n - i < G ? d->n - i : G;
      conv_group_bwd(dx ? dx + i * xs : NULL, dw, dy + i * ys, x + i * xs, w, d, gi, scratch,
                     scratch ? scratch + cs : NULL, 1);
    }
    return;
  }
  float *parts = scratch + t * tf; /* t weight-gradient partials of wk floats */
#pragma omp parallel num_threads(t)
  {
    int me = omp_get_thread_num(), nt = omp_get_num_threads();
    float *mine = tf ? scratch + me * tf : NULL, *part = dw ? parts + me * wk : NULL;
    if (part) memset(part, 0, sizeof(float) * (size_t)wk);
#pragma omp for schedule(static)
    for (int64_t j = 0; j < ng; j++) {
      int64_t i = j * G, gi = d->n - i < G ? d->n - i : G;
      conv_group_bwd(dx ? dx + i * xs : NULL, part, dy + i * ys, x + i * xs, w, d, gi, mine, mine ? mine + cs : NULL, 0);
    }
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
