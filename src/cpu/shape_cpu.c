/* CPU kernels of the shape ops. */
#include "../ops/shape.h"
#include <string.h>

#define SHP_CHUNK 4096 /* contiguous elements per parallel work item */
#define SHP_TILE 32    /* tile edge of the blocked transpose */

/* out(shape) = [out +] x strided, when x's contiguous dim is out's dim 2 (a batch of 2-D
 * transposes): 32x32 tiles so reads and writes both stay in cache */
static void permute_tiled(float *out, const float *x, const int64_t sh[4], const int64_t xs[4], int acc) {
  int64_t nr = (sh[2] + SHP_TILE - 1) / SHP_TILE, nc = (sh[3] + SHP_TILE - 1) / SHP_TILE;
  int64_t items = sh[0] * sh[1] * nr * nc;
#pragma omp parallel for schedule(static) if (sh[0] * sh[1] * sh[2] * sh[3] > 32768)
  for (int64_t it = 0; it < items; it++) {
    int64_t tc = it % nc, tr = (it / nc) % nr, m = it / (nc * nr), i1 = m % sh[1], i0 = m / sh[1];
    const float *src = x + i0 * xs[0] + i1 * xs[1];
    float *dst = out + m * sh[2] * sh[3];
    int64_t r1 = (tr + 1) * SHP_TILE < sh[2] ? (tr + 1) * SHP_TILE : sh[2];
    int64_t c1 = (tc + 1) * SHP_TILE < sh[3] ? (tc + 1) * SHP_TILE : sh[3];
    for (int64_t r = tr * SHP_TILE; r < r1; r++)
      for (int64_t c = tc * SHP_TILE; c < c1; c++) {
        float v = src[r + c * xs[3]];
        if (acc) dst[r * sh[3] + c] += v; else dst[r * sh[3] + c] = v;
      }
  }
}

/* out(shape) = [out +] x, out element (i0,i1,i2,i3) reading x[sum ik * xstr[k]] */
static void shp_permute(float *out, const float *x, const int64_t sh[4], const int64_t xs[4], int acc) {
  if (xs[3] != 1 && xs[2] == 1 && sh[2] >= 8 && sh[3] >= 8) {
    permute_tiled(out, x, sh, xs, acc);
    return;
  }
  int64_t rows = sh[0] * sh[1] * sh[2], n = sh[3];
#pragma omp parallel for schedule(static) if (rows * n > 32768)
  for (int64_t r = 0; r < rows; r++) {
    int64_t i2 = r % sh[2], i1 = (r / sh[2]) % sh[1], i0 = r / (sh[2] * sh[1]);
    const float *src = x + i0 * xs[0] + i1 * xs[1] + i2 * xs[2];
    float *dst = out + r * n;
    int64_t s = xs[3];
    if (acc) {
      if (s == 1) for (int64_t j = 0; j < n; j++) dst[j] += src[j];
      else for (int64_t j = 0; j < n; j++) dst[j] += src[j * s];
    } else {
      if (s == 1) for (int64_t j = 0; j < n; j++) dst[j] = src[j];
      else for (int64_t j = 0; j < n; j++) dst[j] = src[j * s];
    }
  }
}

/* dst(outer,dn,inner)[:, doff:doff+len, :] = [dst +] src(outer,sn,inner)[:, soff:soff+len, :] */
static void shp_copy_slab(float *dst, int64_t dn, int64_t doff, const float *src, int64_t sn, int64_t soff,
                          int64_t outer, int64_t len, int64_t inner, int acc) {
  int64_t seg = len * inner, nc = (seg + SHP_CHUNK - 1) / SHP_CHUNK;
#pragma omp parallel for schedule(static) if (outer * seg > 32768)
  for (int64_t it = 0; it < outer * nc; it++) {
    int64_t o = it / nc, j0 = (it % nc) * SHP_CHUNK, w = seg - j0 < SHP_CHUNK ? seg - j0 : SHP_CHUNK;
    float *d = dst + (o * dn + doff) * inner + j0;
    const float *s = src + (o * sn + soff) * inner + j0;
    if (acc) for (int64_t j = 0; j < w; j++) d[j] += s[j];
    else memcpy(d, s, (size_t)w * sizeof(float));
  }
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_permute(const struct nn_backend *be, const struct nn_shape_args *a) {
  (void)be;
  shp_permute(a->out, a->x, a->shape, a->xstr, a->accumulate);
}
static void k_copy_slab(const struct nn_backend *be, const struct nn_shape_args *a) {
  (void)be;
  shp_copy_slab(a->dst, a->dn, a->doff, a->src, a->sn, a->soff, a->outer, a->len, a->inner, a->accumulate);
}
const struct nn_k_shape nn_cpu_shape = {.permute = k_permute, .copy_slab = k_copy_slab};
