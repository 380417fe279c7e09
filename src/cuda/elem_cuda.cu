/* CUDA kernels of the elementwise-shaped op families: matmul (bias), binary, act, dropout, rope,
 * embed, reduce, shape, rnn cells and the optimizers. Same semantics as src/cpu/ (see the kernel
 * structs in the src/ops headers). Compiled, never run on a GPU. */
#include "cu_common.cuh"
extern "C" {
#include "ops/act.h"
#include "ops/binary.h"
#include "ops/dropout.h"
#include "ops/embed.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/rnn.h"
#include "ops/rope.h"
#include "ops/shape.h"
#include "nn_optim.h"
}
#include <climits>

/* ---- matmul ---- */

__global__ void k_set_bias(float *y, const float *b, int64_t rows, int64_t cols) {
  CU_FOR(i, rows * cols) y[i] = b[i % cols];
}
static void mm_set_bias(const struct nn_backend *be, const struct nn_bias_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->rows * a->cols, k_set_bias, a->y, a->b, a->rows, a->cols);
}
static void mm_bias_grad(const struct nn_backend *be, const struct nn_bias_args *a) {
  cu_sum_mid(cu_of(be), a->db, a->dy, NULL, 1, a->rows, a->cols, 1.0f, 1);
}

/* ---- binary ---- */

struct bin_geom {
  int64_t sh[4], bs[4];
};

__device__ __forceinline__ float bin_f(int op, float x, float y) {
  return op == NN_BIN_ADD ? x + y : op == NN_BIN_SUB ? x - y : x * y;
}

__global__ void k_bin_apply(float *out, const float *a, const float *b, int op, int acc, bin_geom g, int64_t n) {
  CU_FOR(i, n) {
    int64_t i3 = i % g.sh[3], r = i / g.sh[3], i2 = r % g.sh[2], i1 = (r / g.sh[2]) % g.sh[1];
    int64_t i0 = r / (g.sh[2] * g.sh[1]);
    float v = bin_f(op, a[i], b[i0 * g.bs[0] + i1 * g.bs[1] + i2 * g.bs[2] + i3 * g.bs[3]]);
    out[i] = acc ? out[i] + v : v;
  }
}
static void bin_apply(const struct nn_backend *be, const struct nn_binary_args *a) {
  struct cu_ctx *cx = cu_of(be);
  bin_geom g;
  for (int k = 0; k < 4; k++) {
    g.sh[k] = a->shape[k];
    g.bs[k] = a->bstr[k];
  }
  int64_t n = a->shape[0] * a->shape[1] * a->shape[2] * a->shape[3];
  CU_LAUNCH_N(n, k_bin_apply, a->out, a->a, a->b, (int)a->op, a->accumulate, g, n);
}

/* db(bstr) += alpha * sum over the broadcast dims (bstr[k] == 0) of dy * (a or 1): element e of db
 * indexes the kept dims, r the broadcast ones, both row-major */
struct bin_red {
  int64_t sh[4], bs[4], astr[4];
  int kept[4], nk, bcast[4], nb;
  int64_t nbcast;
};
__device__ __forceinline__ void bin_red_index(const bin_red &g, int64_t e, int64_t r, int64_t *ai, int64_t *bi) {
  int64_t a = 0, b = 0;
  for (int t = g.nk - 1; t >= 0; t--) {
    int k = g.kept[t];
    int64_t ix = e % g.sh[k];
    e /= g.sh[k];
    a += ix * g.astr[k];
    b += ix * g.bs[k];
  }
  for (int t = g.nb - 1; t >= 0; t--) {
    int k = g.bcast[t];
    int64_t ix = r % g.sh[k];
    r /= g.sh[k];
    a += ix * g.astr[k];
  }
  *ai = a;
  *bi = b;
}
/* few broadcast positions: a thread per element of db */
__global__ void k_bin_reduce_thread(float *db, const float *dy, const float *a, float alpha, bin_red g, int64_t ne) {
  CU_FOR(e, ne) {
    double s = 0.0;
    int64_t ai = 0, bi = 0;
    for (int64_t r = 0; r < g.nbcast; r++) {
      bin_red_index(g, e, r, &ai, &bi);
      s += a ? (double)dy[ai] * (double)a[ai] : (double)dy[ai];
    }
    bin_red_index(g, e, 0, &ai, &bi);
    db[bi] += (float)(alpha * s);
  }
}
/* many: a block per element of db, fixed-order block sum */
__global__ void k_bin_reduce_block(float *db, const float *dy, const float *a, float alpha, bin_red g, int64_t ne) {
  __shared__ double sh[32];
  for (int64_t e = blockIdx.x; e < ne; e += gridDim.x) {
    double s = 0.0;
    int64_t ai = 0, bi = 0;
    for (int64_t r = threadIdx.x; r < g.nbcast; r += blockDim.x) {
      bin_red_index(g, e, r, &ai, &bi);
      s += a ? (double)dy[ai] * (double)a[ai] : (double)dy[ai];
    }
    s = cu_block_sum(s, sh);
    if (threadIdx.x == 0) {
      bin_red_index(g, e, 0, &ai, &bi);
      db[bi] += (float)(alpha * s);
    }
  }
}
static void bin_reduce(const struct nn_backend *be, const struct nn_binary_args *args) {
  struct cu_ctx *cx = cu_of(be);
  float *db = args->db;
  const float *dy = args->dy, *a = args->a;
  const int64_t *shape = args->shape, *bstr = args->bstr;
  float alpha = args->alpha;
  bin_red g;
  g.nk = g.nb = 0;
  g.nbcast = 1;
  int64_t ne = 1, st = 1;
  for (int k = 3; k >= 0; k--) {
    g.sh[k] = shape[k];
    g.bs[k] = bstr[k];
    g.astr[k] = st;
    st *= shape[k];
  }
  if (st == 0) return;
  for (int k = 0; k < 4; k++) {
    if (bstr[k] || shape[k] == 1) {
      g.kept[g.nk++] = k;
      ne *= shape[k];
    } else {
      g.bcast[g.nb++] = k;
      g.nbcast *= shape[k];
    }
  }
  if (g.nbcast <= 64) {
    CU_LAUNCH_N(ne, k_bin_reduce_thread, db, dy, a, alpha, g, ne);
  } else {
    k_bin_reduce_block<<<(unsigned)(ne < 65536 ? ne : 65536), CU_THREADS, 0, cx->stream>>>(db, dy, a, alpha, g, ne);
    CU_LAUNCHED();
  }
}

__global__ void k_scale(float *out, const float *x, float s, int64_t n) {
  CU_FOR(i, n) out[i] = s * x[i];
}
static void bin_scale(const struct nn_backend *be, const struct nn_binary_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->n, k_scale, a->out, a->a, a->s, a->n);
}

/* ---- act ---- */

#define GELU_K 0.7978845608028654f
#define GELU_C 0.044715f
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

__device__ __forceinline__ float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float gelu_s(float x) { return sigm(2.0f * GELU_K * (x + GELU_C * x * x * x)); }

__device__ __forceinline__ float act_f(int f, float x) {
  switch (f) {
    case NN_OP_RELU: return x > 0.0f ? x : 0.0f;
    case NN_OP_GELU_TANH: return x * gelu_s(x);
    case NN_OP_GELU_ERF: return 0.5f * x * (1.0f + erff(x * INV_SQRT2));
    case NN_OP_SILU: return x * sigm(x);
    case NN_OP_SIGMOID: return sigm(x);
    default: return tanhf(x);
  }
}
__device__ __forceinline__ float act_d(int f, float x, float y) {
  switch (f) {
    case NN_OP_RELU: return y > 0.0f ? 1.0f : 0.0f;
    case NN_OP_GELU_TANH: {
      float s = gelu_s(x);
      return s + 2.0f * x * s * (1.0f - s) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
    }
    case NN_OP_GELU_ERF: return 0.5f * (1.0f + erff(x * INV_SQRT2)) + x * expf(-0.5f * x * x) * INV_SQRT_2PI;
    case NN_OP_SILU: {
      float s = sigm(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case NN_OP_SIGMOID: return y * (1.0f - y);
    default: return 1.0f - y * y;
  }
}
__global__ void k_act_fwd(float *y, const float *x, int64_t n, int f) {
  CU_FOR(i, n) y[i] = act_f(f, x[i]);
}
__global__ void k_act_bwd(float *dx, const float *dy, const float *x, const float *y, int64_t n, int f) {
  CU_FOR(i, n) dx[i] += dy[i] * act_d(f, x[i], y[i]);
}
static void act_forward(const struct nn_backend *be, const struct nn_act_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->n, k_act_fwd, a->y, a->x, a->n, (int)a->f);
}
static void act_backward(const struct nn_backend *be, const struct nn_act_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->n, k_act_bwd, a->dx, a->dy, a->x, a->y, a->n, (int)a->f);
}

/* ---- dropout ---- */

__global__ void k_drop_fwd(float *y, uint8_t *mask, const float *x, int64_t n, int64_t per, float p, float scale,
                           uint64_t seed, uint32_t stream, uint64_t step, int64_t base, int64_t stride) {
  CU_FOR(i, n) {
    int64_t b = i / per, e = i % per;
    uint64_t key = (uint64_t)(base + b * stride) * (uint64_t)per + (uint64_t)e;
    uint8_t keep = cu_rng_uniform(seed, stream, step, key) >= p; /* nn_dropout_keep's rule */
    mask[i] = keep;
    y[i] = keep ? x[i] * scale : 0.0f;
  }
}
static void drop_forward(const struct nn_backend *be, const struct nn_dropout_args *a) {
  struct cu_ctx *cx = cu_of(be);
  float scale = a->p < 1.0f ? 1.0f / (1.0f - a->p) : 0.0f;
  CU_LAUNCH_N(a->n, k_drop_fwd, a->y, a->mask, a->x, a->n, a->per, a->p, scale, a->seed, a->stream, a->step, a->base,
              a->stride);
}
__global__ void k_drop_bwd(float *dx, const float *dy, const uint8_t *mask, int64_t n, float scale) {
  CU_FOR(i, n) dx[i] += mask[i] ? dy[i] * scale : 0.0f;
}
static void drop_backward(const struct nn_backend *be, const struct nn_dropout_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->n, k_drop_bwd, a->dx, a->dy, a->mask, a->n, a->scale);
}

/* ---- rope ---- */

__global__ void k_rope_tables(float *cs, float *sn, int64_t T, int64_t half, int64_t pos0, float base) {
  CU_FOR(i, T * half) {
    int64_t t = i / half, j = i % half;
    double th = (double)(pos0 + t) * pow((double)base, -(double)j / (double)half);
    cs[i] = (float)cos(th);
    sn[i] = (float)sin(th);
  }
}
static void rope_tables(const struct nn_backend *be, const struct nn_rope_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->T * a->half, k_rope_tables, a->cos, a->sin, a->T, a->half, a->pos0, a->base);
}
/* one thread per (b,t,h,i): out1 = x1 c - x2 s', out2 = x2 c + x1 s', s' = sign * s */
__global__ void k_rope_rotate(float *out, const float *x, const float *cs, const float *sn, int64_t B, int64_t T,
                              int64_t H, int64_t half, float sign, int acc) {
  CU_FOR(idx, B * T * H * half) {
    int64_t i = idx % half, h = (idx / half) % H, bt = idx / (half * H), t = bt % T;
    int64_t o = bt * H * 2 * half + h * 2 * half + i;
    float c = cs[t * half + i], s = sign * sn[t * half + i], a = x[o], b = x[o + half];
    float r1 = a * c - b * s, r2 = b * c + a * s;
    out[o] = acc ? out[o] + r1 : r1;
    out[o + half] = acc ? out[o + half] + r2 : r2;
  }
}
static void rope_rotate(const struct nn_backend *be, const struct nn_rope_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->B * a->T * a->H * a->half, k_rope_rotate, a->out, a->x, a->cos, a->sin, a->B, a->T, a->H, a->half,
              a->sign, a->accumulate);
}

/* ---- embed ---- */

__device__ __forceinline__ int64_t id_at(const void *ids, int i64, int64_t k) {
  return i64 ? ((const int64_t *)ids)[k] : (int64_t)((const int32_t *)ids)[k];
}
__global__ void k_emb_fwd(float *out, const void *ids, int i64, const float *w, int64_t n, int64_t V, int64_t D,
                          long long *bad) {
  CU_FOR(i, n * D) {
    int64_t k = i / D, id = id_at(ids, i64, k);
    if (id < 0 || id >= V) {
      if (i % D == 0) atomicMin(bad, (long long)k);
      out[i] = 0.0f;
    } else {
      out[i] = w[id * D + i % D];
    }
  }
}
static int64_t emb_forward(const struct nn_backend *be, const struct nn_embed_args *a) {
  struct cu_ctx *cx = cu_of(be);
  cu_flag_reset(cx);
  CU_LAUNCH_N(a->n * a->D, k_emb_fwd, a->out, a->ids, a->i64, a->w, a->n, a->V, a->D, cx->flag);
  long long bad = cu_flag_read(cx);
  return bad == LLONG_MAX ? -1 : (int64_t)bad;
}
/* deterministic without atomics: thread (column j, vocabulary slice) owns dw[v, j] for v in its
 * slice and adds the rows of dy in order of k (the CPU kernel's scheme) */
#define EMB_SLICES 128
__global__ void k_emb_bwd(float *dw, const float *dy, const void *ids, int i64, int64_t n, int64_t V, int64_t D) {
  int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  int64_t lo = V * blockIdx.y / gridDim.y, hi = V * (blockIdx.y + 1) / gridDim.y;
  if (j >= D) return;
  for (int64_t k = 0; k < n; k++) {
    int64_t id = id_at(ids, i64, k);
    if (id >= lo && id < hi) dw[id * D + j] += dy[k * D + j];
  }
}
static void emb_backward(const struct nn_backend *be, const struct nn_embed_args *a) {
  int64_t n = a->n, V = a->V, D = a->D;
  if (n <= 0 || D <= 0) return;
  unsigned slices = (unsigned)(V < EMB_SLICES ? V : EMB_SLICES);
  dim3 grid((unsigned)((D + 127) / 128), slices);
  k_emb_bwd<<<grid, 128, 0, cu_of(be)->stream>>>(a->dw, a->dy, a->ids, a->i64, n, V, D);
  CU_LAUNCHED();
}

/* ---- reduce ---- */

static void red_sum(const struct nn_backend *be, const struct nn_reduce_args *a) {
  cu_sum_mid(cu_of(be), a->out, a->x, NULL, a->outer, a->n, a->inner, a->alpha, 0);
}
__global__ void k_red_expand(float *dx, const float *dy, int64_t outer, int64_t n, int64_t inner, float alpha) {
  CU_FOR(i, outer * n * inner) dx[i] += alpha * dy[(i / (n * inner)) * inner + i % inner];
}
static void red_expand(const struct nn_backend *be, const struct nn_reduce_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->outer * a->n * a->inner, k_red_expand, a->dx, a->dy, a->outer, a->n, a->inner, a->alpha);
}

/* ---- shape ---- */

struct perm_geom {
  int64_t sh[4], xs[4];
};
__global__ void k_permute(float *out, const float *x, perm_geom g, int acc, int64_t n) {
  CU_FOR(i, n) {
    int64_t i3 = i % g.sh[3], r = i / g.sh[3], i2 = r % g.sh[2], i1 = (r / g.sh[2]) % g.sh[1];
    int64_t i0 = r / (g.sh[2] * g.sh[1]);
    float v = x[i0 * g.xs[0] + i1 * g.xs[1] + i2 * g.xs[2] + i3 * g.xs[3]];
    out[i] = acc ? out[i] + v : v;
  }
}
static void shp_permute(const struct nn_backend *be, const struct nn_shape_args *a) {
  struct cu_ctx *cx = cu_of(be);
  perm_geom g;
  for (int k = 0; k < 4; k++) {
    g.sh[k] = a->shape[k];
    g.xs[k] = a->xstr[k];
  }
  int64_t n = a->shape[0] * a->shape[1] * a->shape[2] * a->shape[3];
  CU_LAUNCH_N(n, k_permute, a->out, a->x, g, a->accumulate, n);
}
/* 32-bit words, so int32 / int64 data move bit for bit when not accumulating */
__global__ void k_copy_slab(uint32_t *dst, int64_t dn, int64_t doff, const uint32_t *src, int64_t sn, int64_t soff,
                            int64_t len, int64_t inner, int acc, int64_t n) {
  int64_t seg = len * inner;
  CU_FOR(i, n) {
    int64_t o = i / seg, j = i % seg;
    int64_t d = (o * dn + doff) * inner + j, s = (o * sn + soff) * inner + j;
    if (acc) ((float *)dst)[d] += ((const float *)src)[s];
    else dst[d] = src[s];
  }
}
static void shp_copy_slab(const struct nn_backend *be, const struct nn_shape_args *a) {
  struct cu_ctx *cx = cu_of(be);
  int64_t n = a->outer * a->len * a->inner;
  CU_LAUNCH_N(n, k_copy_slab, (uint32_t *)a->dst, a->dn, a->doff, (const uint32_t *)a->src, a->sn, a->soff, a->len,
              a->inner, a->accumulate, n);
}

/* ---- rnn ---- */

__device__ __forceinline__ float bias_at(const float *b, int64_t k) { return b ? b[k] : 0.0f; }

__global__ void k_lstm_fwd(float *out, float *act, const float *c, const float *b_ih, const float *b_hh, int64_t B,
                           int64_t H) {
  float *hn = out, *cn = out + B * H;
  CU_FOR(k, B * H) {
    int64_t b = k / H, j = k % H;
    float *a = act + b * 4 * H;
    float pre[4];
    for (int q = 0; q < 4; q++) pre[q] = a[q * H + j] + bias_at(b_ih, q * H + j) + bias_at(b_hh, q * H + j);
    float i = sigm(pre[0]), f = sigm(pre[1]), gg = tanhf(pre[2]), o = sigm(pre[3]);
    a[j] = i;
    a[H + j] = f;
    a[2 * H + j] = gg;
    a[3 * H + j] = o;
    float cc = f * c[k] + i * gg;
    cn[k] = cc;
    hn[k] = o * tanhf(cc);
  }
}
static void lstm_fwd(const struct nn_backend *be, const struct nn_rnn_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->B * a->H, k_lstm_fwd, a->out, a->act, a->c, a->b_ih, a->b_hh, a->B, a->H);
}
__global__ void k_lstm_bwd(float *dgates, float *dc, const float *dout, const float *act, const float *c,
                           const float *out, int64_t B, int64_t H) {
  const float *dhn = dout, *dcn = dout + B * H, *cn = out + B * H;
  CU_FOR(k, B * H) {
    int64_t b = k / H, j = k % H;
    const float *a = act + b * 4 * H;
    float *d = dgates + b * 4 * H;
    float i = a[j], f = a[H + j], gg = a[2 * H + j], o = a[3 * H + j];
    float tc = tanhf(cn[k]);
    float dct = dcn[k] + dhn[k] * o * (1.0f - tc * tc);
    d[j] = dct * gg * i * (1.0f - i);
    d[H + j] = dct * c[k] * f * (1.0f - f);
    d[2 * H + j] = dct * i * (1.0f - gg * gg);
    d[3 * H + j] = dhn[k] * tc * o * (1.0f - o);
    if (dc) dc[k] += dct * f;
  }
}
static void lstm_bwd(const struct nn_backend *be, const struct nn_rnn_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->B * a->H, k_lstm_bwd, a->dgates, a->dc, a->dout, a->act, a->c, a->out, a->B, a->H);
}
__global__ void k_gru_fwd(float *hn, float *save, const float *gi, const float *gh, const float *h, const float *b_ih,
                          const float *b_hh, int64_t B, int64_t H) {
  CU_FOR(k, B * H) {
    int64_t b = k / H, j = k % H;
    const float *xi = gi + b * 3 * H, *hi = gh + b * 3 * H;
    float *s = save + b * 4 * H;
    float r = sigm(xi[j] + bias_at(b_ih, j) + hi[j] + bias_at(b_hh, j));
    float z = sigm(xi[H + j] + bias_at(b_ih, H + j) + hi[H + j] + bias_at(b_hh, H + j));
    float ghn = hi[2 * H + j] + bias_at(b_hh, 2 * H + j);
    float n = tanhf(xi[2 * H + j] + bias_at(b_ih, 2 * H + j) + r * ghn);
    hn[k] = (1.0f - z) * n + z * h[k];
    s[j] = r;
    s[H + j] = z;
    s[2 * H + j] = n;
    s[3 * H + j] = ghn;
  }
}
static void gru_fwd(const struct nn_backend *be, const struct nn_rnn_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->B * a->H, k_gru_fwd, a->hn, a->save, a->gi, a->gh, a->h, a->b_ih, a->b_hh, a->B, a->H);
}
__global__ void k_gru_bwd(float *dgi, float *dgh, float *dh, const float *dhn, const float *save, const float *h,
                          int64_t B, int64_t H) {
  CU_FOR(k, B * H) {
    int64_t b = k / H, j = k % H;
    const float *s = save + b * 4 * H;
    float *di = dgi + b * 3 * H, *dh3 = dgh + b * 3 * H;
    float r = s[j], z = s[H + j], n = s[2 * H + j], ghn = s[3 * H + j], d = dhn[k];
    float dz = d * (h[k] - n) * z * (1.0f - z);
    float dn = d * (1.0f - z) * (1.0f - n * n);
    float dr = dn * ghn * r * (1.0f - r);
    di[j] = dr;
    di[H + j] = dz;
    di[2 * H + j] = dn;
    dh3[j] = dr;
    dh3[H + j] = dz;
    dh3[2 * H + j] = dn * r;
    if (dh) dh[k] += d * z;
  }
}
static void gru_bwd(const struct nn_backend *be, const struct nn_rnn_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->B * a->H, k_gru_bwd, a->dgi, a->dgh, a->dh, a->dhn, a->save, a->h, a->B, a->H);
}
static void rnn_bias_grad(const struct nn_backend *be, const struct nn_rnn_args *a) {
  cu_sum_mid(cu_of(be), a->db, a->dy, NULL, 1, a->rows, a->cols, 1.0f, 1);
}

/* ---- optimizers ---- */

__global__ void k_sgd(float *p, float *buf, const float *g, int64_t n, float lr, float wd, float mu, int nesterov) {
  CU_FOR(i, n) {
    float d = g[i] + wd * p[i];
    if (!buf) {
      p[i] -= lr * d;
    } else {
      float b = mu * buf[i] + d;
      buf[i] = b;
      p[i] -= lr * (nesterov ? d + mu * b : b);
    }
  }
}
static void opt_sgd(const struct nn_backend *be, const struct nn_optim_args *a) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(a->n, k_sgd, a->p, a->buf, a->g, a->n, a->lr, a->wd, a->mu, a->nesterov);
}
__global__ void k_adam(float *p, float *m, float *v, const float *g, int64_t n, float shrink, float l2, float b1,
                       float b2, float eps, float step_size, float bc2_sqrt) {
  float w1 = 1.0f - b1, w2 = 1.0f - b2;
  CU_FOR(i, n) {
    float pi = p[i] * shrink;
    float gi = g[i] + l2 * pi;
    float mi = b1 * m[i] + w1 * gi;
    float vi = v[i] * b2 + w2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
  }
}
static void opt_adam(const struct nn_backend *be, const struct nn_optim_args *a) {
  struct cu_ctx *cx = cu_of(be);
  float shrink = a->decoupled ? (float)(1.0 - (double)a->lr * a->wd) : 1.0f;
  float l2 = a->decoupled ? 0.0f : a->wd;
  CU_LAUNCH_N(a->n, k_adam, a->p, a->m, a->v, a->g, a->n, shrink, l2, a->b1, a->b2, a->eps, a->step_size,
              a->bc2_sqrt);
}
/* sum of squares in double: per-block partials (fixed split), then one block sums them in order */
#define SUMSQ_BLOCKS 1024
__global__ void k_sumsq_part(double *part, const float *x, int64_t n) {
  __shared__ double sh[32];
  double s = 0.0;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    s += (double)x[i] * (double)x[i];
  s = cu_block_sum(s, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}
__global__ void k_sum_parts(double *part, int np) {
  __shared__ double sh[32];
  double s = 0.0;
  for (int i = threadIdx.x; i < np; i += blockDim.x) s += part[i];
  s = cu_block_sum(s, sh);
  if (threadIdx.x == 0) part[0] = s;
}
static double opt_sumsq(const struct nn_backend *be, const float *x, int64_t n) {
  if (n <= 0) return 0.0;
  struct cu_ctx *cx = cu_of(be);
  double *part = (double *)cu_scratch(cx, sizeof(double) * SUMSQ_BLOCKS);
  k_sumsq_part<<<SUMSQ_BLOCKS, CU_THREADS, 0, cx->stream>>>(part, x, n);
  CU_LAUNCHED();
  k_sum_parts<<<1, CU_THREADS, 0, cx->stream>>>(part, SUMSQ_BLOCKS);
  CU_LAUNCHED();
  CU_CHECK(cudaMemcpyAsync(cx->hred, part, sizeof(double), cudaMemcpyDeviceToHost, cx->stream));
  CU_CHECK(cudaStreamSynchronize(cx->stream));
  return *cx->hred;
}
__global__ void k_scale_inplace(float *x, float a, int64_t n) {
  CU_FOR(i, n) x[i] *= a;
}
static void opt_scale(const struct nn_backend *be, float *x, float a, int64_t n) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(n, k_scale_inplace, x, a, n);
}
__global__ void k_clamp(float *x, float lo, float hi, int64_t n) {
  CU_FOR(i, n) x[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]); /* NaN stays NaN */
}
static void opt_clamp(const struct nn_backend *be, float *x, float lo, float hi, int64_t n) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(n, k_clamp, x, lo, hi, n);
}

extern "C" {
extern const struct nn_k_matmul nn_cuda_matmul;
const struct nn_k_matmul nn_cuda_matmul = {.set_bias = mm_set_bias, .bias_grad = mm_bias_grad};
extern const struct nn_k_binary nn_cuda_binary;
const struct nn_k_binary nn_cuda_binary = {.apply = bin_apply, .reduce = bin_reduce, .scale = bin_scale};
extern const struct nn_k_act nn_cuda_act;
const struct nn_k_act nn_cuda_act = {.forward = act_forward, .backward = act_backward};
extern const struct nn_k_dropout nn_cuda_dropout;
const struct nn_k_dropout nn_cuda_dropout = {.forward = drop_forward, .backward = drop_backward};
extern const struct nn_k_rope nn_cuda_rope;
const struct nn_k_rope nn_cuda_rope = {.tables = rope_tables, .rotate = rope_rotate};
extern const struct nn_k_embed nn_cuda_embed;
const struct nn_k_embed nn_cuda_embed = {.forward = emb_forward, .backward = emb_backward};
extern const struct nn_k_reduce nn_cuda_reduce;
const struct nn_k_reduce nn_cuda_reduce = {.sum = red_sum, .expand = red_expand};
extern const struct nn_k_shape nn_cuda_shape;
const struct nn_k_shape nn_cuda_shape = {.permute = shp_permute, .copy_slab = shp_copy_slab};
extern const struct nn_k_rnn nn_cuda_rnn;
const struct nn_k_rnn nn_cuda_rnn = {.lstm_fwd = lstm_fwd, .lstm_bwd = lstm_bwd, .gru_fwd = gru_fwd,
                                     .gru_bwd = gru_bwd, .bias_grad = rnn_bias_grad};
extern const struct nn_k_optim nn_cuda_optim;
const struct nn_k_optim nn_cuda_optim = {
    .sgd = opt_sgd, .adam = opt_adam, .sumsq = opt_sumsq, .scale = opt_scale, .clamp = opt_clamp};
}
