/* CUDA kernels of convolution (im2col over a group of images + strided-batched cuBLAS, col2im
 * as a gather: no atomics, deterministic) and pooling (max, average, adaptive average; backward
 * as gathers in the CPU's order). Compiled, never run on a GPU. */
#include "cu_common.cuh"
extern "C" {
#include "ops/conv.h"
#include "ops/pool.h"
}

#define CONV_SCRATCH_FLOATS ((int64_t)1 << 25) /* column matrices of a group of images: 128 MiB at most */

static int conv_pointwise(const struct nn_conv_geom *d) {
  return d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0;
}
/* images per group */
static int64_t conv_group(const struct nn_conv_geom *d) {
  int64_t per = d->c * d->kh * d->kw * d->ho * d->wo, g = per > 0 ? CONV_SCRATCH_FLOATS / per : 1;
  if (g < 1) g = 1;
  return g < d->n ? g : (d->n > 0 ? d->n : 1);
}
static int64_t conv_scratch(const struct nn_backend *be, const struct nn_conv_args *a, int bwd) {
  const struct nn_conv_geom *d = &a->d;
  return conv_pointwise(d) ? 0 : conv_group(d) * d->c * d->kh * d->kw * d->ho * d->wo;
}

/* cols(g, c*kh*kw, ho*wo) = patches of images x(g, c, h, w) */
__global__ void k_im2col(float *cols, const float *x, struct nn_conv_geom d, int64_t n) {
  int64_t P = d.ho * d.wo, K = d.c * d.kh * d.kw;
  CU_FOR(i, n) {
    int64_t p = i % P, kk = (i / P) % K, gi = i / (P * K);
    int64_t kx = kk % d.kw, ky = (kk / d.kw) % d.kh, ci = kk / (d.kw * d.kh);
    int64_t ih = (p / d.wo) * d.stride - d.pad + ky, iw = (p % d.wo) * d.stride - d.pad + kx;
    cols[i] = ih >= 0 && ih < d.h && iw >= 0 && iw < d.w ? x[((gi * d.c + ci) * d.h + ih) * d.w + iw] : 0.0f;
  }
}
/* dx(g, c, h, w) += the column entries each pixel went to, in (ky, kx) order */
__global__ void k_col2im(float *dx, const float *cols, struct nn_conv_geom d, int64_t n) {
  int64_t P = d.ho * d.wo, K = d.c * d.kh * d.kw;
  CU_FOR(i, n) {
    int64_t iw = i % d.w, ih = (i / d.w) % d.h, ci = (i / (d.w * d.h)) % d.c, gi = i / (d.w * d.h * d.c);
    float s = 0.0f;
    for (int64_t ky = 0; ky < d.kh; ky++) {
      int64_t th = ih + d.pad - ky;
      if (th < 0 || th % d.stride || th / d.stride >= d.ho) continue;
      for (int64_t kx = 0; kx < d.kw; kx++) {
        int64_t tw = iw + d.pad - kx;
        if (tw < 0 || tw % d.stride || tw / d.stride >= d.wo) continue;
        s += cols[(gi * K + (ci * d.kh + ky) * d.kw + kx) * P + (th / d.stride) * d.wo + tw / d.stride];
      }
    }
    dx[i] += s;
  }
}
__global__ void k_conv_bias(float *y, const float *b, int64_t o, int64_t P, int64_t n) {
  CU_FOR(i, n) y[i] += b[(i / P) % o];
}

static void conv_fwd(const struct nn_backend *be, const struct nn_conv_args *a) {
  struct cu_ctx *cx = cu_of(be);
  const struct nn_conv_geom *d = &a->d;
  const float *x = a->x, *w = a->w, *b = a->b;
  float *y = a->y, *scratch = a->scratch;
  int64_t K = d->c * d->kh * d->kw, P = d->ho * d->wo, xs = d->c * d->h * d->w, ys = d->o * P;
  if (d->n <= 0) return;
  if (conv_pointwise(d)) {
    cu_gemm(cx, 0, 0, d->o, P, K, 1.0f, w, K, 0, x, P, xs, 0.0f, y, P, ys, d->n);
  } else {
    int64_t G = conv_group(d);
    for (int64_t i0 = 0; i0 < d->n; i0 += G) {
      int64_t g = d->n - i0 < G ? d->n - i0 : G, nc = g * K * P;
      CU_LAUNCH_N(nc, k_im2col, scratch, x + i0 * xs, *d, nc);
      cu_gemm(cx, 0, 0, d->o, P, K, 1.0f, w, K, 0, scratch, P, K * P, 0.0f, y + i0 * ys, P, ys, g);
    }
  }
  if (b) CU_LAUNCH_N(d->n * ys, k_conv_bias, y, b, d->o, P, d->n * ys);
}

/* db(o) += sum over images and positions of dy(n, o, P): a block per channel */
__global__ void k_conv_db(float *db, const float *dy, int64_t n, int64_t o, int64_t P) {
  __shared__ double sh[32];
  int64_t ch = blockIdx.x;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n * P; i += blockDim.x) s += dy[((i / P) * o + ch) * P + i % P];
  s = cu_block_sum(s, sh);
  if (threadIdx.x == 0) db[ch] += (float)s;
}

static void conv_bwd(const struct nn_backend *be, const struct nn_conv_args *a) {
  struct cu_ctx *cx = cu_of(be);
  const struct nn_conv_geom *d = &a->d;
  const float *x = a->x, *w = a->w, *dy = a->dy;
  float *dx = a->dx, *dw = a->dw, *db = a->db, *scratch = a->scratch;
  int64_t K = d->c * d->kh * d->kw, P = d->ho * d->wo, xs = d->c * d->h * d->w, ys = d->o * P;
  if (d->n <= 0) return;
  if (db) {
    k_conv_db<<<(unsigned)d->o, CU_THREADS, 0, cx->stream>>>(db, dy, d->n, d->o, P);
    CU_LAUNCHED();
  }
  int pw = conv_pointwise(d);
  if (pw && dx) cu_gemm(cx, 1, 0, K, P, d->o, 1.0f, w, K, 0, dy, P, ys, 1.0f, dx, P, xs, d->n);
  if (!dw && (pw || !dx)) return;
  int64_t G = pw ? d->n : conv_group(d);
  for (int64_t i0 = 0; i0 < d->n; i0 += G) {
    int64_t g = d->n - i0 < G ? d->n - i0 : G, nc = g * K * P;
    if (dw) { /* dw += dy_i cols_i^T, image after image (fixed order) */
      const float *cols = x + i0 * xs;
      if (!pw) {
        CU_LAUNCH_N(nc, k_im2col, scratch, x + i0 * xs, *d, nc);
        cols = scratch;
      }
      for (int64_t i = 0; i < g; i++)
        cu_gemm(cx, 0, 1, d->o, K, P, 1.0f, dy + (i0 + i) * ys, P, 0, cols + i * (pw ? xs : K * P), P, 0, 1.0f, dw, K, 0, 1);
    }
    if (dx && !pw) { /* cols = w^T dy_i, then back onto the pixels */
      cu_gemm(cx, 1, 0, K, P, d->o, 1.0f, w, K, 0, dy + i0 * ys, P, ys, 0.0f, scratch, P, K * P, g);
      int64_t nx = g * xs;
      CU_LAUNCH_N(nx, k_col2im, dx + i0 * xs, scratch, *d, nx);
    }
  }
}

/* ---- pooling ---- */

/* window of output o along an axis (in inputs, out outputs): inputs [lo, hi), size span */
__device__ __forceinline__ void pool_window(const nn_pool_geom &d, int64_t o, int64_t in, int64_t out, int64_t *lo,
                                            int64_t *hi, int64_t *span) {
  if (d.adaptive) {
    *lo = o * in / out;
    *hi = ((o + 1) * in + out - 1) / out;
    *span = *hi - *lo;
    return;
  }
  int64_t start = o * d.stride - d.pad, end = start + d.k;
  if (end > in + d.pad) end = in + d.pad;
  *span = end - start;
  *lo = start < 0 ? 0 : start;
  *hi = end > in ? in : end;
}

__global__ void k_max_fwd(float *y, int32_t *arg, const float *x, nn_pool_geom d, int64_t n) {
  CU_FOR(i, n) {
    int64_t ow = i % d.wo, oh = (i / d.wo) % d.ho, q = i / (d.wo * d.ho);
    int64_t h0, h1, sh, w0, w1, sw;
    pool_window(d, oh, d.h, d.ho, &h0, &h1, &sh);
    pool_window(d, ow, d.w, d.wo, &w0, &w1, &sw);
    const float *xp = x + q * d.h * d.w;
    float best = -INFINITY;
    int32_t at = (int32_t)(h0 * d.w + w0);
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t iw = w0; iw < w1; iw++) {
        float v = xp[ih * d.w + iw];
        if (v > best || v != v) {
          best = v;
          at = (int32_t)(ih * d.w + iw);
        }
      }
    y[i] = best;
    arg[i] = at;
  }
}
/* outputs whose window can hold input index ix along an axis: [*lo, *hi) (a superset, checked after) */
__device__ __forceinline__ void pool_outs(const nn_pool_geom &d, int64_t ix, int64_t in, int64_t out, int64_t *lo,
                                          int64_t *hi) {
  if (d.adaptive) {
    *lo = ix * out / in - 1;
    *hi = (ix + 1) * out / in + 2;
  } else {
    int64_t a = ix + d.pad - d.k + 1;
    *lo = a > 0 ? (a + d.stride - 1) / d.stride : 0;
    *hi = (ix + d.pad) / d.stride + 1;
  }
  if (*lo < 0) *lo = 0;
  if (*hi > out) *hi = out;
}
/* dx += dy of the outputs whose argmax is this input, in output order (the CPU's order) */
__global__ void k_max_bwd(float *dx, const float *dy, const int32_t *arg, nn_pool_geom d, int64_t n) {
  CU_FOR(i, n) {
    int64_t iw = i % d.w, ih = (i / d.w) % d.h, q = i / (d.w * d.h), me = ih * d.w + iw;
    int64_t a0, a1, b0, b1;
    pool_outs(d, ih, d.h, d.ho, &a0, &a1);
    pool_outs(d, iw, d.w, d.wo, &b0, &b1);
    float s = 0.0f;
    for (int64_t oh = a0; oh < a1; oh++)
      for (int64_t ow = b0; ow < b1; ow++) {
        int64_t j = (q * d.ho + oh) * d.wo + ow;
        if (arg[j] == me) s += dy[j];
      }
    dx[i] += s;
  }
}
__global__ void k_avg_fwd(float *y, const float *x, nn_pool_geom d, int64_t n) {
  CU_FOR(i, n) {
    int64_t ow = i % d.wo, oh = (i / d.wo) % d.ho, q = i / (d.wo * d.ho);
    int64_t h0, h1, sh, w0, w1, sw;
    pool_window(d, oh, d.h, d.ho, &h0, &h1, &sh);
    pool_window(d, ow, d.w, d.wo, &w0, &w1, &sw);
    const float *xp = x + q * d.h * d.w;
    float s = 0.0f;
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t iw = w0; iw < w1; iw++) s += xp[ih * d.w + iw];
    y[i] = s / ((float)sh * (float)sw);
  }
}
__global__ void k_avg_bwd(float *dx, const float *dy, nn_pool_geom d, int64_t n) {
  CU_FOR(i, n) {
    int64_t iw = i % d.w, ih = (i / d.w) % d.h, q = i / (d.w * d.h);
    int64_t a0, a1, b0, b1;
    pool_outs(d, ih, d.h, d.ho, &a0, &a1);
    pool_outs(d, iw, d.w, d.wo, &b0, &b1);
    float s = 0.0f;
    for (int64_t oh = a0; oh < a1; oh++) {
      int64_t h0, h1, sh;
      pool_window(d, oh, d.h, d.ho, &h0, &h1, &sh);
      if (ih < h0 || ih >= h1) continue;
      for (int64_t ow = b0; ow < b1; ow++) {
        int64_t w0, w1, sw;
        pool_window(d, ow, d.w, d.wo, &w0, &w1, &sw);
        if (iw < w0 || iw >= w1) continue;
        s += dy[(q * d.ho + oh) * d.wo + ow] / ((float)sh * (float)sw);
      }
    }
    dx[i] += s;
  }
}
static void max_fwd(const struct nn_backend *be, const struct nn_pool_args *a) {
  struct cu_ctx *cx = cu_of(be);
  int64_t n = a->d.planes * a->d.ho * a->d.wo;
  CU_LAUNCH_N(n, k_max_fwd, a->y, a->arg, a->x, a->d, n);
}
static void max_bwd(const struct nn_backend *be, const struct nn_pool_args *a) {
  struct cu_ctx *cx = cu_of(be);
  int64_t n = a->d.planes * a->d.h * a->d.w;
  CU_LAUNCH_N(n, k_max_bwd, a->dx, a->dy, a->arg, a->d, n);
}
static void avg_fwd(const struct nn_backend *be, const struct nn_pool_args *a) {
  struct cu_ctx *cx = cu_of(be);
  int64_t n = a->d.planes * a->d.ho * a->d.wo;
  CU_LAUNCH_N(n, k_avg_fwd, a->y, a->x, a->d, n);
}
static void avg_bwd(const struct nn_backend *be, const struct nn_pool_args *a) {
  struct cu_ctx *cx = cu_of(be);
  int64_t n = a->d.planes * a->d.h * a->d.w;
  CU_LAUNCH_N(n, k_avg_bwd, a->dx, a->dy, a->d, n);
}

extern "C" {
extern const struct nn_k_conv nn_cuda_conv;
const struct nn_k_conv nn_cuda_conv = {.scratch_floats = conv_scratch, .fwd = conv_fwd, .bwd = conv_bwd};
extern const struct nn_k_pool nn_cuda_pool;
const struct nn_k_pool nn_cuda_pool = {.max_fwd = max_fwd, .max_bwd = max_bwd, .avg_fwd = avg_fwd, .avg_bwd = avg_bwd};
}
