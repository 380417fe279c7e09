/* CPU kernels of the conv ops: im2col + sgemm over tiles of output columns.
 * A tile is either
 *   a band: output rows [r0, r1) of one image, for maps of at least CONV_BAND_MIN positions: the whole
 *     image unless its column matrix cols(c*kh*kw, rows*wo) would pass CONV_TILE_FLOATS (large
 *     inputs: the rows are then cut into bands, bounding the scratch). y and dy of a band are strided
 *     sub-matrices of the image (ld ho*wo): no staging. A pointwise conv (1x1, stride 1, no padding)
 *     multiplies the image itself (no copy). (Bands sized to stay in L2 were measured slower: the
 *     narrower sgemm lost more than the cache won.)
 *   a group: G whole images of a small map, one column matrix cols(K, G*P), image g in columns
 *     [g*P, (g+1)*P), so the late stages of a ResNet still make wide products (G*P near
 *     CONV_GROUP_COLS); outputs are staged (o, G*P) and copied to (G, o, P).
 * im2col (and its reverse, col2im) per channel and kernel offset:
 *   stride 1 with output width = input width ("same" padding): the row of kernel offset (kh, kw) is the
 *     plane shifted by a constant, so it is one contiguous copy, then the padded columns zeroed;
 *   maps narrower than CONV_TABLE_WO: gathered through an offset table built once per call (source
 *     pixel or -1 per (kh, kw, position)): on 4- and 8-wide rows the row loops' bookkeeping costs more
 *     than the copies;
 *   a 3x3 stride-2 pad-1 kernel on an even width (ResNet's downsampling): a row's three kernel columns
 *     in one pass (conv_row3_s2);
 *   otherwise row by row (stride 2 spelled out so that it vectorises).
 * With T > 1 threads and at least T images, images (bands) or groups are spread over the threads (each
 * with its own columns, staging, weight-gradient partial and a single-threaded sgemm); otherwise tiles
 * run one after another with nn_cpu_sgemm over the threads and im2col parallel over channels. */
#include "../ops/conv.h"
#include <omp.h>
#include <stdint.h>
#include <string.h>

#define CONV_PAR_WORK 32768          /* elements below which a loop stays single-threaded */
#define CONV_PARTIAL_MAX (1 << 24)   /* most floats of per-thread weight-gradient partials */
#define CONV_BAND_MIN 256            /* positions from which a map is cut into bands, not grouped */
#define CONV_TILE_FLOATS (1 << 22)   /* most floats of a band's column matrix (16 MB) */
#define CONV_GROUP_COLS 512          /* columns G*P a group aims at */
#define CONV_GROUP_FLOATS (1 << 22)  /* most floats of one group's column matrix */
#define CONV_TABLE_WO 16             /* output widths below which columns are gathered through a table */

/* 1 when an image is its own column matrix (1x1 kernel, stride 1, no padding). */
static int conv_pointwise(const struct nn_conv_geom *d) {
  return d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0;
}

/* How a call cuts its work: t threads (1: tiles one after another), G images per tile (1: bands of R
 * output rows), the offset table or not. */
struct conv_plan {
  int t, table;
  int64_t G, R, K, P;
};

static struct conv_plan conv_plan(const struct nn_conv_geom *d, int bwd) {
  struct conv_plan p = {.t = omp_get_max_threads(), .K = d->c * d->kh * d->kw, .P = d->ho * d->wo};
  if (p.t < 2 || d->n < p.t) p.t = 1;
  if (bwd && (int64_t)p.t * d->o * p.K > CONV_PARTIAL_MAX) p.t = 1;
  if (p.P >= CONV_BAND_MIN) { /* bands of R rows: at least CONV_BAND_MIN columns, else the tile budget */
    p.G = 1;
    p.R = conv_pointwise(d) ? d->ho : CONV_TILE_FLOATS / (p.K * d->wo);
    int64_t rmin = (CONV_BAND_MIN + d->wo - 1) / d->wo;
    if (p.R < rmin) p.R = rmin;
    if (p.R > d->ho) p.R = d->ho;
  } else { /* groups of whole images */
    int64_t g = CONV_GROUP_COLS / p.P;
    if (g > CONV_GROUP_FLOATS / (p.K * p.P)) g = CONV_GROUP_FLOATS / (p.K * p.P);
    if (p.t > 1 && g > d->n / p.t) g = d->n / p.t;
    if (g > d->n) g = d->n;
    p.G = g < 1 ? 1 : g;
    p.R = d->ho;
  }
  p.table = p.R == d->ho && !conv_pointwise(d) && d->wo < CONV_TABLE_WO; /* tables cover whole images */
  return p;
}

/* Floats of one tile's column matrix (0 for a pointwise band: the image itself). */
static int64_t conv_cols(const struct nn_conv_geom *d, const struct conv_plan *p) {
  return p->G == 1 && conv_pointwise(d) ? 0 : p->K * p->G * p->R * d->wo;
}

/* Floats of one tile's output staging yg(o, G*P) (0 for bands, which use y directly). */
static int64_t conv_stage(const struct nn_conv_geom *d, const struct conv_plan *p) {
  return p->G == 1 ? 0 : d->o * p->G * p->P;
}

/* Floats (int32s) of the offset table. */
static int64_t conv_table(const struct nn_conv_geom *d, const struct conv_plan *p) {
  return p->table ? d->kh * d->kw * p->P : 0;
}

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
CONV_NO_MEMSET static inline void conv_row(float *col, float *xrow, int64_t kw, int64_t lo, int64_t hi,
                                           const struct nn_conv_geom *d, int back) {
  int64_t s = d->stride, off = kw - d->pad; /* xrow[ow*s + off] lies under output column ow */
  if (back) { /* stride 2 spelled out: a constant stride vectorises (even/odd lane shuffles) */
    if (s == 1)
      for (int64_t ow = lo; ow < hi; ow++) xrow[ow + off] += col[ow];
    else if (s == 2)
      for (int64_t ow = lo; ow < hi; ow++) xrow[2 * ow + off] += col[ow];
    else
      for (int64_t ow = lo; ow < hi; ow++) xrow[ow * s + off] += col[ow];
    return;
  }
  for (int64_t ow = 0; ow < lo; ow++) col[ow] = 0.0f;
  if (s == 1)
    for (int64_t ow = lo; ow < hi; ow++) col[ow] = xrow[ow + off];
  else if (s == 2)
    for (int64_t ow = lo; ow < hi; ow++) col[ow] = xrow[2 * ow + off];
  else
    for (int64_t ow = lo; ow < hi; ow++) col[ow] = xrow[ow * s + off];
  for (int64_t ow = hi; ow < d->wo; ow++) col[ow] = 0.0f;
}

/* The three kernel columns of a 3-wide, stride-2, pad-1 kernel over an input row of even width w = 2*wo:
 * c1[m] = x[2m], c2[m] = x[2m+1], c0[m] = x[2m-1] (0 at m = 0), so c0 is c2 shifted by one; back: the
 * reverse, summed in one interleaved pass (input column 2m gets c1[m], 2m+1 gets c2[m] + c0[m+1]). */
CONV_NO_MEMSET static inline void conv_row3_s2(float *xrow, float *c0, float *c1, float *c2, int64_t wo, int back) {
  if (back) {
    for (int64_t m = 0; m < wo - 1; m++) {
      xrow[2 * m] += c1[m];
      xrow[2 * m + 1] += c2[m] + c0[m + 1];
    }
    xrow[2 * wo - 2] += c1[wo - 1];
    xrow[2 * wo - 1] += c2[wo - 1];
    return;
  }
  for (int64_t m = 0; m < wo; m++) {
    c1[m] = xrow[2 * m];
    c2[m] = xrow[2 * m + 1];
  }
  c0[0] = 0.0f;
  for (int64_t m = 1; m < wo; m++) c0[m] = c2[m - 1];
}

/* col(rows, wo): zero columns [0, wlo) and [whi, wo) of rows [lo, hi) (the padding a contiguous run
 * copied past) */
CONV_NO_MEMSET static inline void conv_pad_cols(float *col, int64_t lo, int64_t hi, int64_t wlo, int64_t whi,
                                                int64_t wo) {
  if (wlo == 0 && whi == wo) return;
  for (int64_t r = lo; r < hi; r++) {
    for (int64_t ow = 0; ow < wlo; ow++) col[r * wo + ow] = 0.0f;
    for (int64_t ow = whi; ow < wo; ow++) col[r * wo + ow] = 0.0f;
  }
}

/* The kh*kw rows (row stride ld) of cols(c*kh*kw, (r1-r0)*wo) that come from channel c for output
 * rows [r0, r1), gathered from (back: scattered back onto) the plane x(h,w) of that channel. */
CONV_NO_MEMSET static void conv_plane(float *cols, int64_t ld, float *x, const struct nn_conv_geom *d, int64_t c,
                                     int64_t r0, int64_t r1, int back) {
  int64_t wo = d->wo, n = (r1 - r0) * wo;
  if (conv_pointwise(d)) { /* a copy */
    float *col = cols + c * ld, *xs = x + r0 * wo;
    if (back)
      for (int64_t p = 0; p < n; p++) xs[p] += col[p];
    else
      memcpy(col, xs, sizeof(float) * (size_t)n);
    return;
  }
  /* stride 1 and as wide as the input ("same" width): output (oh, ow) of kernel offset (kh, kw) reads
   * x(oh - pad + kh, ow - pad + kw), a constant offset from its column index */
  int same = d->stride == 1 && d->wo == d->w;
  /* the 3x3 stride-2 pad-1 downsampling of an even-width map: its three kernel columns in one pass */
  int pair3 = d->stride == 2 && d->kw == 3 && d->pad == 1 && d->w == 2 * d->wo;
  for (int64_t kh = 0; kh < d->kh; kh++) {
    int64_t lo, hi;
    conv_valid(d->pad, kh, d->stride, d->h, d->ho, &lo, &hi);
    hi = hi > r1 ? r1 : hi < r0 ? r0 : hi; /* the valid rows within the band */
    lo = lo < r0 ? r0 : lo > hi ? hi : lo;
    for (int64_t kw = 0; kw < d->kw; kw++) {
      float *col = cols + ((c * d->kh + kh) * d->kw + kw) * ld;
      int64_t wlo, whi;
      conv_valid(d->pad, kw, d->stride, d->w, d->wo, &wlo, &whi);
      if (!back) {
        for (int64_t p = 0; p < (lo - r0) * wo; p++) col[p] = 0.0f;
        for (int64_t p = (hi - r0) * wo; p < n; p++) col[p] = 0.0f;
      }
      if (pair3) continue; /* rows below, after the zero-fill of every kernel column */
      if (same && hi > lo) { /* col[j] <-> xs[j]: one contiguous run, then the padded columns fixed */
        const int64_t a = (lo - r0) * wo + wlo, b = (hi - 1 - r0) * wo + whi;
        float *xs = x + r0 * wo + (kh - d->pad) * d->w + (kw - d->pad);
        if (back) { /* the padded columns carry no gradient: zero them, then one contiguous add */
          conv_pad_cols(col, lo - r0, hi - r0, wlo, whi, wo);
          for (int64_t j = a; j < b; j++) xs[j] += col[j];
        } else {
          memcpy(col + a, xs + a, sizeof(float) * (size_t)(b - a));
          conv_pad_cols(col, lo - r0, hi - r0, wlo, whi, wo);
        }
        continue;
      }
      for (int64_t oh = lo; oh < hi; oh++)
        conv_row(col + (oh - r0) * wo, x + (oh * d->stride - d->pad + kh) * d->w, kw, wlo, whi, d, back);
    }
    if (pair3) {
      float *c0 = cols + (c * d->kh + kh) * 3 * ld;
      for (int64_t oh = lo; oh < hi; oh++) {
        int64_t o = (oh - r0) * wo;
        conv_row3_s2(x + (2 * oh - 1 + kh) * d->w, c0 + o, c0 + ld + o, c0 + 2 * ld + o, wo, back);
      }
    }
  }
}

/* tab(kh*kw, ho*wo) = the pixel of a plane x(h,w) under each (kernel offset, output position), -1 in
 * the padding */
static void conv_table_fill(int32_t *tab, const struct nn_conv_geom *d) {
  for (int64_t kh = 0; kh < d->kh; kh++)
    for (int64_t kw = 0; kw < d->kw; kw++)
      for (int64_t oh = 0; oh < d->ho; oh++)
        for (int64_t ow = 0; ow < d->wo; ow++) {
          int64_t ih = oh * d->stride - d->pad + kh, iw = ow * d->stride - d->pad + kw;
          int inside = ih >= 0 && ih < d->h && iw >= 0 && iw < d->w;
          tab[((kh * d->kw + kw) * d->ho + oh) * d->wo + ow] = inside ? (int32_t)(ih * d->w + iw) : -1;
        }
}

/* conv_plane for whole images through the offset table tab(kh*kw, P) */
static void conv_plane_table(float *cols, int64_t ld, float *x, const int32_t *tab, const struct nn_conv_geom *d,
                             int64_t c, int back) {
  int64_t kk = d->kh * d->kw, P = d->ho * d->wo;
  for (int64_t r = 0; r < kk; r++) {
    float *col = cols + (c * kk + r) * ld;
    const int32_t *t = tab + r * P;
    if (back) {
      for (int64_t p = 0; p < P; p++)
        if (t[p] >= 0) x[t[p]] += col[p];
    } else {
      for (int64_t p = 0; p < P; p++) col[p] = t[p] >= 0 ? x[t[p]] : 0.0f;
    }
  }
}

/* cols(c*kh*kw, ld) columns [0, (r1-r0)*wo) = patches of output rows [r0, r1) of one image x(c,h,w), zero
 * where padded (back: dx(c,h,w) += cols summed back onto the pixels each column came from); through
 * tab when given (whole images); threads over channels when par */
static void im2col(float *cols, int64_t ld, float *x, const struct nn_conv_geom *d, int64_t r0, int64_t r1,
                   const int32_t *tab, int par, int back) {
  int64_t hw = d->h * d->w;
#pragma omp parallel for schedule(static) if (par && d->c * d->kh * d->kw * (r1 - r0) * d->wo > CONV_PAR_WORK)
  for (int64_t c = 0; c < d->c; c++) {
    if (tab) conv_plane_table(cols, ld, x + c * hw, tab, d, c, back);
    else conv_plane(cols, ld, x + c * hw, d, c, r0, r1, back);
  }
}

/* One tile: G images from x (image stride c*h*w) and y/dy (stride o*P), output rows [r0, r1). */
struct conv_tile {
  int64_t G, r0, r1;
  float *cols, *stage; /* this thread's scratch */
  const int32_t *tab;  /* offset table or NULL */
  int par;             /* inner loops over the threads */
};

/* The column matrix of a tile, cols(K, G*(r1-r0)*wo), or x itself for a pointwise band; *ld its row
 * stride */
static const float *tile_cols(const struct conv_tile *t, const float *x, const struct nn_conv_geom *d, int64_t *ld) {
  int64_t Pt = (t->r1 - t->r0) * d->wo, xs = d->c * d->h * d->w;
  if (t->G == 1 && conv_pointwise(d)) {
    *ld = d->ho * d->wo;
    return x + t->r0 * d->wo;
  }
  *ld = t->G * Pt;
  for (int64_t g = 0; g < t->G; g++) im2col(t->cols + g * Pt, *ld, (float *)x + g * xs, d, t->r0, t->r1, t->tab, t->par, 0);
  return t->cols;
}

/* y(G,o,rows of the tile) = w(o,K) @ cols + b(o) */
static void tile_fwd(float *y, const float *x, const float *w, const float *b, const struct nn_conv_geom *d,
                     const struct conv_tile *t) {
  int64_t K = d->c * d->kh * d->kw, P = d->ho * d->wo, Pt = (t->r1 - t->r0) * d->wo, N = t->G * Pt, ld;
  const float *src = tile_cols(t, x, d, &ld);
  if (t->G == 1) { /* straight into the band of y: bias first, then accumulate */
    float *yb = y + t->r0 * d->wo;
    if (b)
      for (int64_t o = 0; o < d->o; o++)
        for (int64_t p = 0; p < Pt; p++) yb[o * P + p] = b[o];
    nn_cpu_sgemm(0, 0, d->o, Pt, K, 1.0f, w, K, src, ld, b ? 1.0f : 0.0f, yb, P);
    return;
  }
  nn_cpu_sgemm(0, 0, d->o, N, K, 1.0f, w, K, src, ld, 0.0f, t->stage, N);
#pragma omp parallel for schedule(static) if (t->par && d->o * N > CONV_PAR_WORK)
  for (int64_t o = 0; o < d->o; o++) {
    float bo = b ? b[o] : 0.0f;
    for (int64_t g = 0; g < t->G; g++) {
      float *yr = y + (g * d->o + o) * P;
      const float *sr = t->stage + o * N + g * P;
      for (int64_t p = 0; p < P; p++) yr[p] = sr[p] + bo;
    }
  }
}

/* For a tile: dw(o,K) += dy(o, cols) @ cols(K, cols)^T and dx += col2im(w^T @ dy); NULL: skipped */
static void tile_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w,
                     const struct nn_conv_geom *d, const struct conv_tile *t) {
  int64_t K = d->c * d->kh * d->kw, P = d->ho * d->wo, Pt = (t->r1 - t->r0) * d->wo, N = t->G * Pt,
          xs = d->c * d->h * d->w, ldy = P, ld;
  const float *dyt = dy + t->r0 * d->wo;
  if (t->G > 1) { /* dy(G,o,P) -> stage(o, G*P) */
#pragma omp parallel for schedule(static) if (t->par && d->o * N > CONV_PAR_WORK)
    for (int64_t o = 0; o < d->o; o++)
      for (int64_t g = 0; g < t->G; g++) memcpy(t->stage + o * N + g * P, dy + (g * d->o + o) * P, sizeof(float) * (size_t)P);
    dyt = t->stage;
    ldy = N;
  }
  if (dw) {
    const float *src = tile_cols(t, x, d, &ld);
    nn_cpu_sgemm(0, 1, d->o, K, N, 1.0f, dyt, ldy, src, ld, 1.0f, dw, K);
  }
  if (!dx) return;
  if (t->G == 1 && conv_pointwise(d)) { /* dx(c,P) += w^T @ dy directly (one band: the whole image) */
    nn_cpu_sgemm(1, 0, K, P, d->o, 1.0f, w, K, dyt, ldy, 1.0f, dx, P);
    return;
  }
  nn_cpu_sgemm(1, 0, K, N, d->o, 1.0f, w, K, dyt, ldy, 0.0f, t->cols, N);
  for (int64_t g = 0; g < t->G; g++) im2col(t->cols + g * Pt, N, dx + g * xs, d, t->r0, t->r1, t->tab, t->par, 1);
}

static int64_t thread_floats(const struct nn_conv_geom *d, const struct conv_plan *p) {
  return conv_cols(d, p) + conv_stage(d, p);
}

static int64_t scratch_floats(const struct nn_conv_geom *d, int bwd) {
  struct conv_plan p = conv_plan(d, bwd);
  return conv_table(d, &p) + p.t * thread_floats(d, &p) + (bwd && p.t > 1 ? (int64_t)p.t * d->o * p.K : 0);
}

/* Run unit u of plan p for a (images [u*G, u*G + G) clipped to n, every band of R rows) with this
 * thread's scratch `mine`: forward when !bwd, else backward, the weight gradient into dw (a->dw or this
 * thread's partial; NULL: none). */
static void conv_unit(const struct nn_conv_args *a, const struct conv_plan *p, int64_t u, float *mine,
                      const int32_t *tab, int par, int bwd, float *dw) {
  const struct nn_conv_geom *d = &a->d;
  int64_t xs = d->c * d->h * d->w, ys = d->o * d->ho * d->wo, i = u * p->G;
  struct conv_tile t = {.G = d->n - i < p->G ? d->n - i : p->G, .cols = mine, .tab = tab, .par = par};
  t.stage = mine ? mine + conv_cols(d, p) : NULL;
  for (t.r0 = 0; t.r0 < d->ho; t.r0 += p->R) {
    t.r1 = t.r0 + p->R < d->ho ? t.r0 + p->R : d->ho;
    if (bwd) tile_bwd(a->dx ? a->dx + i * xs : NULL, dw, a->dy + i * ys, a->x + i * xs, a->w, d, &t);
    else tile_fwd(a->y + i * ys, a->x + i * xs, a->w, a->b, d, &t);
  }
}

/* The forward (bwd 0) or the dx, dw part of the backward (bwd 1) of a, over the units of its plan: one
 * after another, or spread over the threads (backward: each thread's weight gradient into a partial of
 * its own, summed after in thread order). */
static void conv_run(const struct nn_conv_args *a, int bwd) {
  const struct nn_conv_geom *d = &a->d;
  struct conv_plan p = conv_plan(d, bwd);
  int64_t tf = thread_floats(d, &p), tb = conv_table(d, &p), nu = (d->n + p.G - 1) / p.G, wk = d->o * p.K;
  int32_t *tab = tb ? (int32_t *)a->scratch : NULL;
  if (tab) conv_table_fill(tab, d);
  float *per = a->scratch ? a->scratch + tb : NULL, *dw = bwd ? a->dw : NULL;
  if (p.t == 1) {
    for (int64_t u = 0; u < nu; u++) conv_unit(a, &p, u, per, tab, 1, bwd, dw);
    return;
  }
  float *parts = dw ? per + p.t * tf : NULL; /* t weight-gradient partials of wk floats */
#pragma omp parallel num_threads(p.t)
  {
    int me = omp_get_thread_num(), nt = omp_get_num_threads();
    float *mine = tf ? per + me * tf : NULL, *part = dw ? parts + me * wk : NULL;
    if (part) memset(part, 0, sizeof(float) * (size_t)wk);
#pragma omp for schedule(static)
    for (int64_t u = 0; u < nu; u++) conv_unit(a, &p, u, mine, tab, 0, bwd, part);
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

/* the kernel table: adapters from the argument struct to the kernels above */
static int64_t k_scratch(const struct nn_backend *be, const struct nn_conv_args *a, int b) {
  (void)be;
  return scratch_floats(&a->d, b);
}
static void k_fwd(const struct nn_backend *be, const struct nn_conv_args *a) {
  (void)be;
  conv_run(a, 0);
}
static void k_bwd(const struct nn_backend *be, const struct nn_conv_args *a) {
  (void)be;
  if (a->db) bias_grad(a->db, a->dy, &a->d);
  if (a->dx || a->dw) conv_run(a, 1);
}
const struct nn_k_conv nn_cpu_conv = {.scratch_floats = k_scratch, .fwd = k_fwd, .bwd = k_bwd};
