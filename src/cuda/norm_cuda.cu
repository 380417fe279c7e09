/* CUDA kernels of the row-reduction op families: softmax (+ mask, causal), cross-entropy
 * (fused log-softmax, ignore index), layernorm, batchnorm. One block per row or channel, block
 * sums in a fixed order (deterministic). Compiled, never run on a GPU. */
#include "cu_common.cuh"
extern "C" {
#include "ops/bnorm.h"
#include "ops/layernorm.h"
#include "ops/loss.h"
#include "ops/softmax.h"
}
#include <climits>

#define ROW_THREADS 256
static inline unsigned row_blocks(int64_t rows) { return (unsigned)(rows < 65536 ? (rows > 0 ? rows : 1) : 65536); }

/* ---- softmax ---- */

/* y may alias x: every thread reads its own entries of x in each pass and writes them last */
__global__ void k_softmax_fwd(float *y, const float *x, const float *mask, int64_t mask_rows, int64_t rows, int64_t T,
                              int64_t S, int causal) {
  __shared__ double shd[32];
  __shared__ float shf[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    int64_t valid = causal ? r % T + S - T + 1 : S;
    valid = valid < 0 ? 0 : (valid > S ? S : valid);
    const float *xr = x + r * S, *mr = mask ? mask + (r % mask_rows) * S : NULL;
    float m = -INFINITY;
    for (int64_t s = threadIdx.x; s < valid; s += blockDim.x) m = fmaxf(m, xr[s] + (mr ? mr[s] : 0.0f));
    m = cu_block_max(m, shf);
    double sum = 0.0;
    if (m != -INFINITY)
      for (int64_t s = threadIdx.x; s < valid; s += blockDim.x) sum += (double)expf(xr[s] + (mr ? mr[s] : 0.0f) - m);
    sum = cu_block_sum(sum, shd);
    float inv = m == -INFINITY || sum <= 0.0 ? 0.0f : (float)(1.0 / sum);
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x)
      y[r * S + s] = s < valid && m != -INFINITY ? expf(xr[s] + (mr ? mr[s] : 0.0f) - m) * inv : 0.0f;
  }
}
static void softmax_forward(const struct nn_backend *be, const struct nn_softmax_args *a) {
  if (a->rows <= 0) return;
  k_softmax_fwd<<<row_blocks(a->rows), ROW_THREADS, 0, cu_of(be)->stream>>>(
      a->y, a->x, a->mask, a->mask_rows > 0 ? a->mask_rows : 1, a->rows, a->T > 0 ? a->T : 1, a->S, a->causal);
  CU_LAUNCHED();
}
__global__ void k_softmax_bwd(float *dx, const float *y, const float *dy, int64_t rows, int64_t S) {
  __shared__ double sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *yr = y + r * S, *gr = dy + r * S;
    double dot = 0.0;
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x) dot += (double)yr[s] * gr[s];
    float d = (float)cu_block_sum(dot, sh);
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x) dx[r * S + s] += yr[s] * (gr[s] - d);
  }
}
static void softmax_backward(const struct nn_backend *be, const struct nn_softmax_args *a) {
  if (a->rows <= 0) return;
  k_softmax_bwd<<<row_blocks(a->rows), ROW_THREADS, 0, cu_of(be)->stream>>>(a->dx, a->y, a->dy, a->rows, a->S);
  CU_LAUNCHED();
}

/* ---- cross-entropy ---- */

__device__ __forceinline__ int64_t tgt_at(const void *t, int i64, int64_t r) {
  return i64 ? ((const int64_t *)t)[r] : (int64_t)((const int32_t *)t)[r];
}
/* per row: stats[r] = lse, contrib[r] = lse - x[t] (0 when ignored), cnt[r] = counted */
__global__ void k_ce_rows(float *stats, double *contrib, const float *x, const void *targets, int i64, int64_t rows,
                          int64_t C, int64_t ignore, long long *bad) {
  __shared__ double shd[32];
  __shared__ float shf[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * C;
    float m = -INFINITY;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) m = fmaxf(m, xr[c]);
    m = cu_block_max(m, shf);
    double s = 0.0;
    if (m != -INFINITY)
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += (double)expf(xr[c] - m);
    s = cu_block_sum(s, shd);
    if (threadIdx.x == 0) {
      float lse = m == -INFINITY ? m : m + logf((float)s);
      int64_t t = tgt_at(targets, i64, r);
      stats[r] = lse;
      if (t != ignore && (t < 0 || t >= C)) {
        atomicMin(bad, (long long)r);
        contrib[2 * r] = contrib[2 * r + 1] = 0.0;
      } else {
        contrib[2 * r] = t == ignore ? 0.0 : (double)lse - xr[t];
        contrib[2 * r + 1] = t == ignore ? 0.0 : 1.0;
      }
    }
  }
}
/* loss[0] = mean of the counted contributions, stats[rows] = count (one block, fixed order) */
__global__ void k_ce_total(float *loss, float *stats, const double *contrib, int64_t rows) {
  __shared__ double sh[32];
  double s = 0.0, n = 0.0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    s += contrib[2 * r];
    n += contrib[2 * r + 1];
  }
  s = cu_block_sum(s, sh);
  n = cu_block_sum(n, sh);
  if (threadIdx.x == 0) {
    stats[rows] = (float)n;
    loss[0] = n > 0.0 ? (float)(s / n) : 0.0f;
  }
}
static void ce_forward(const struct nn_backend *be, const struct nn_ce_args *a) {
  struct cu_ctx *cx = cu_of(be);
  int64_t rows = a->rows, C = a->C, ignore = a->ignore;
  const void *targets = a->targets;
  int i64 = a->i64;
  double *contrib = (double *)cu_scratch(cx, sizeof(double) * 2 * (size_t)(rows > 0 ? rows : 1));
  cu_flag_reset(cx);
  if (rows > 0) {
    k_ce_rows<<<row_blocks(rows), ROW_THREADS, 0, cx->stream>>>(a->stats, contrib, a->x, targets, i64, rows, C, ignore,
                                                              cx->flag);
    CU_LAUNCHED();
  }
  k_ce_total<<<1, 1024, 0, cx->stream>>>(a->loss, a->stats, contrib, rows);
  CU_LAUNCHED();
  long long bad = cu_flag_read(cx); /* the CPU kernel asserts the same (one sync per loss) */
  if (bad != LLONG_MAX) {
    int64_t t = 0;
    CU_CHECK(cudaMemcpy(&t, (const char *)targets + (i64 ? 8 : 4) * bad, i64 ? 8 : 4, cudaMemcpyDeviceToHost));
    if (!i64) t = (int64_t)(int32_t)t;
    NN_ASSERT(0, "cross_entropy: target %lld of row %lld is out of range [0,%lld) and is not ignore_index %lld",
              (long long)t, bad, (long long)C, (long long)ignore);
  }
}
__global__ void k_ce_bwd(float *dx, const float *dloss, const float *x, const float *stats, const void *targets,
                         int i64, int64_t rows, int64_t C, int64_t ignore) {
  float count = stats[rows];
  if (count == 0.0f) return;
  float w = dloss[0] / count;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    int64_t t = tgt_at(targets, i64, r);
    if (t == ignore || t < 0 || t >= C) continue;
    float lse = stats[r];
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
      dx[r * C + c] += w * expf(x[r * C + c] - lse) - (c == t ? w : 0.0f);
  }
}
static void ce_backward(const struct nn_backend *be, const struct nn_ce_args *a) {
  if (a->rows <= 0) return;
  k_ce_bwd<<<row_blocks(a->rows), ROW_THREADS, 0, cu_of(be)->stream>>>(a->dx, a->dloss, a->x, a->stats, a->targets,
                                                                     a->i64, a->rows, a->C, a->ignore);
  CU_LAUNCHED();
}

/* ---- layernorm ---- */

#define LN_CHUNK 128 /* rows per partial sum of dw, db */

__global__ void k_ln_fwd(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                         int64_t rows, int64_t C, float eps) {
  __shared__ double sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * C;
    double s = 0.0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += xr[c];
    float m = (float)(cu_block_sum(s, sh) / (double)C);
    double v = 0.0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) v += (double)(xr[c] - m) * (xr[c] - m);
    float rs = 1.0f / sqrtf((float)(cu_block_sum(v, sh) / (double)C) + eps);
    if (threadIdx.x == 0) {
      mean[r] = m;
      rstd[r] = rs;
    }
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
      y[r * C + c] = (xr[c] - m) * rs * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
  }
}
static void ln_forward(const struct nn_backend *be, const struct nn_layernorm_args *a) {
  if (a->rows <= 0) return;
  k_ln_fwd<<<row_blocks(a->rows), ROW_THREADS, 0, cu_of(be)->stream>>>(a->y, a->mean, a->rstd, a->x, a->w, a->b, a->rows,
                                                                     a->C, a->eps);
  CU_LAUNCHED();
}
static int64_t ln_backward_work(const struct nn_backend *be, const struct nn_layernorm_args *a) {
  return 2 * a->C * ((a->rows + LN_CHUNK - 1) / LN_CHUNK);
}

__global__ void k_ln_bwd_dx(float *dx, const float *dy, const float *x, const float *mean, const float *rstd,
                            const float *w, int64_t rows, int64_t C) {
  __shared__ double sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *dyr = dy + r * C, *xr = x + r * C;
    float m = mean[r], rs = rstd[r];
    double a = 0.0, bb = 0.0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
      float gw = dyr[c] * (w ? w[c] : 1.0f);
      a += gw;
      bb += (double)gw * (xr[c] - m) * rs;
    }
    float am = (float)(cu_block_sum(a, sh) / (double)C), bm = (float)(cu_block_sum(bb, sh) / (double)C);
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
      dx[r * C + c] += rs * (dyr[c] * (w ? w[c] : 1.0f) - am - (xr[c] - m) * rs * bm);
  }
}
/* partials: work[2*k*C + c] = sum over chunk k of dy * xhat, work[2*k*C + C + c] = sum of dy */
__global__ void k_ln_bwd_part(float *work, const float *dy, const float *x, const float *mean, const float *rstd,
                              int64_t rows, int64_t C) {
  int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, k = blockIdx.y;
  if (c >= C) return;
  int64_t r1 = (k + 1) * LN_CHUNK < rows ? (k + 1) * LN_CHUNK : rows;
  float sw = 0.0f, sb = 0.0f;
  for (int64_t r = k * LN_CHUNK; r < r1; r++) {
    float d = dy[r * C + c];
    sw += d * (x[r * C + c] - mean[r]) * rstd[r];
    sb += d;
  }
  work[2 * k * C + c] = sw;
  work[2 * k * C + C + c] = sb;
}
__global__ void k_ln_bwd_sum(float *dw, float *db, const float *work, int64_t nblk, int64_t C) {
  CU_FOR(c, C) {
    float sw = 0.0f, sb = 0.0f;
    for (int64_t k = 0; k < nblk; k++) {
      sw += work[2 * k * C + c];
      sb += work[2 * k * C + C + c];
    }
    if (dw) dw[c] += sw;
    if (db) db[c] += sb;
  }
}
static void ln_backward(const struct nn_backend *be, const struct nn_layernorm_args *a) {
  struct cu_ctx *cx = cu_of(be);
  float *dx = a->dx, *dw = a->dw, *db = a->db, *work = a->work;
  const float *dy = a->dy, *x = a->x, *mean = a->mean, *rstd = a->rstd, *w = a->w;
  int64_t rows = a->rows, C = a->C;
  if (rows <= 0) return;
  if (dx) {
    k_ln_bwd_dx<<<row_blocks(rows), ROW_THREADS, 0, cx->stream>>>(dx, dy, x, mean, rstd, w, rows, C);
    CU_LAUNCHED();
  }
  if (!dw && !db) return;
  int64_t nblk = (rows + LN_CHUNK - 1) / LN_CHUNK;
  dim3 grid((unsigned)((C + 127) / 128), (unsigned)nblk);
  k_ln_bwd_part<<<grid, 128, 0, cx->stream>>>(work, dy, x, mean, rstd, rows, C);
  CU_LAUNCHED();
  CU_LAUNCH_N(C, k_ln_bwd_sum, dw, db, work, nblk, C);
}

/* ---- batchnorm: one block per channel ---- */

__global__ void k_bn_fwd(float *y, float *mean, float *invstd, float *rm, float *rv, const float *x, const float *w,
                         const float *b, int64_t n, int64_t c, int64_t hw, float momentum, float eps, int batch) {
  __shared__ double sh[32];
  int64_t ch = blockIdx.x, m = n * hw;
  float mu, is;
  if (batch) {
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) s += x[((i / hw) * c + ch) * hw + i % hw];
    mu = (float)(cu_block_sum(s, sh) / (double)m);
    double d1 = 0.0, d2 = 0.0;
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
      double v = (double)(x[((i / hw) * c + ch) * hw + i % hw] - mu);
      d1 += v;
      d2 += v * v;
    }
    d1 = cu_block_sum(d1, sh);
    d2 = cu_block_sum(d2, sh);
    double var = (d2 - d1 * d1 / (double)m) / (double)m;
    if (var < 0) var = 0;
    is = (float)(1.0 / sqrt(var + (double)eps));
    if (rm && threadIdx.x == 0) {
      rm[ch] = (1.0f - momentum) * rm[ch] + momentum * mu;
      rv[ch] = (1.0f - momentum) * rv[ch] + momentum * (float)(var * (double)m / (double)(m - 1));
    }
  } else {
    mu = rm[ch];
    is = 1.0f / sqrtf(rv[ch] + eps);
  }
  if (threadIdx.x == 0) {
    mean[ch] = mu;
    invstd[ch] = is;
  }
  float k = is * (w ? w[ch] : 1.0f), sh0 = b ? b[ch] : 0.0f;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    int64_t o = ((i / hw) * c + ch) * hw + i % hw;
    y[o] = (x[o] - mu) * k + sh0;
  }
}
static void bn_fwd(const struct nn_backend *be, const struct nn_bnorm_args *a) {
  if (a->c <= 0) return;
  k_bn_fwd<<<(unsigned)a->c, ROW_THREADS, 0, cu_of(be)->stream>>>(a->y, a->mean, a->invstd, a->rm, a->rv, a->x, a->w,
                                                                 a->b, a->n, a->c, a->hw, a->momentum, a->eps,
                                                                 a->batch);
  CU_LAUNCHED();
}
__global__ void k_bn_bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *mean,
                         const float *invstd, const float *w, int64_t n, int64_t c, int64_t hw, int batch) {
  __shared__ double sh[32];
  int64_t ch = blockIdx.x, m = n * hw;
  float mu = mean[ch], is = invstd[ch], k = is * (w ? w[ch] : 1.0f);
  double sdy = 0.0, sdyx = 0.0;
  if (dw || db || batch) {
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
      int64_t o = ((i / hw) * c + ch) * hw + i % hw;
      sdy += dy[o];
      sdyx += (double)dy[o] * (x[o] - mu);
    }
    sdy = cu_block_sum(sdy, sh);
    sdyx = cu_block_sum(sdyx, sh);
  }
  if (threadIdx.x == 0) {
    if (dw) dw[ch] += (float)(sdyx * is);
    if (db) db[ch] += (float)sdy;
  }
  if (!dx) return;
  float beta = batch ? (float)(-k * is * is * sdyx / (double)m) : 0.0f;
  float gamma = batch ? (float)(-k * sdy / (double)m) : 0.0f;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    int64_t o = ((i / hw) * c + ch) * hw + i % hw;
    dx[o] += k * dy[o] + beta * (x[o] - mu) + gamma;
  }
}
static void bn_bwd(const struct nn_backend *be, const struct nn_bnorm_args *a) {
  if (a->c <= 0) return;
  k_bn_bwd<<<(unsigned)a->c, ROW_THREADS, 0, cu_of(be)->stream>>>(a->dx, a->dw, a->db, a->dy, a->x, a->mean, a->invstd,
                                                                 a->w, a->n, a->c, a->hw, a->batch);
  CU_LAUNCHED();
}

/* --sync-bn: per-channel sums (block per channel, double, fixed order): without dy s1 = sum (x - shift),
 * s2 = sum (x - shift)^2; with dy s1 = sum dy, s2 = sum dy * (x - shift) (shift NULL: 0) */
__global__ void k_bn_sums(double *s1, double *s2, const float *x, const float *dy, const float *shift, int64_t n,
                          int64_t c, int64_t hw) {
  __shared__ double sh[32];
  int64_t ch = blockIdx.x, m = n * hw;
  float sf = shift ? shift[ch] : 0.0f;
  double a = 0.0, b = 0.0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    int64_t o = ((i / hw) * c + ch) * hw + i % hw;
    float v = x[o] - sf;
    if (dy) {
      a += dy[o];
      b += (double)(dy[o] * v);
    } else {
      a += v;
      b += (double)(v * v);
    }
  }
  a = cu_block_sum(a, sh);
  b = cu_block_sum(b, sh);
  if (threadIdx.x == 0) {
    s1[ch] = a;
    s2[ch] = b;
  }
}
static void bn_sums(const struct nn_backend *be, const struct nn_bnorm_args *a) {
  if (a->c <= 0) return;
  k_bn_sums<<<(unsigned)a->c, ROW_THREADS, 0, cu_of(be)->stream>>>(a->s1, a->s2, a->x, a->dy, a->shift, a->n, a->c,
                                                                  a->hw);
  CU_LAUNCHED();
}
/* --sync-bn: dx += k * (dy - s1/m - (x - mean) * invstd^2 * s2/m), k = invstd * w, global sums s1, s2 */
__global__ void k_bn_bwd_dx(float *dx, const float *dy, const float *x, const float *mean, const float *invstd,
                            const float *w, const double *s1, const double *s2, double mg, int64_t n, int64_t c,
                            int64_t hw) {
  int64_t ch = blockIdx.x, m = n * hw;
  float mu = mean[ch], is = invstd[ch], k = is * (w ? w[ch] : 1.0f);
  float beta = (float)(-k * is * is * s2[ch] / mg), gamma = (float)(-k * s1[ch] / mg);
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    int64_t o = ((i / hw) * c + ch) * hw + i % hw;
    dx[o] += k * dy[o] + beta * (x[o] - mu) + gamma;
  }
}
static void bn_bwd_dx(const struct nn_backend *be, const struct nn_bnorm_args *a) {
  if (a->c <= 0 || !a->dx) return;
  k_bn_bwd_dx<<<(unsigned)a->c, ROW_THREADS, 0, cu_of(be)->stream>>>(a->dx, a->dy, a->x, a->mean, a->invstd, a->w,
                                                                    a->s1, a->s2, a->m, a->n, a->c, a->hw);
  CU_LAUNCHED();
}

extern "C" {
extern const struct nn_k_softmax nn_cuda_softmax;
const struct nn_k_softmax nn_cuda_softmax = {.forward = softmax_forward, .backward = softmax_backward};
extern const struct nn_k_loss nn_cuda_loss;
const struct nn_k_loss nn_cuda_loss = {.ce_forward = ce_forward, .ce_backward = ce_backward};
extern const struct nn_k_layernorm nn_cuda_layernorm;
const struct nn_k_layernorm nn_cuda_layernorm = {
    .forward = ln_forward, .backward_work = ln_backward_work, .backward = ln_backward};
extern const struct nn_k_bnorm nn_cuda_bnorm;
const struct nn_k_bnorm nn_cuda_bnorm = {.fwd = bn_fwd, .bwd = bn_bwd, .sums = bn_sums, .bwd_dx = bn_bwd_dx};
}
