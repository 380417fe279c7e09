/* CUDA kernels of fused multi-head attention, materialised path: per batch element, one
 * strided-batched cuBLAS product over the heads for the scores, a row kernel for the causal
 * softmax and the attention dropout (the CPU's Philox keys: the same entries are dropped), and
 * one product with v. The (B,H,T,S) probabilities are an output of the current kernel interface,
 * so a tiled (flash-style) path needs an interface without them (not done). Compiled, never run on
 * a GPU. */
#include "cu_common.cuh"
extern "C" {
#include "ops/attn.h"
}

#define ATT_THREADS 128

struct att_drop {
  float p, keep_scale;
  uint32_t stream;
  uint64_t seed, step;
  int64_t key0, key_stride;
};

/* row (b,h,t) of p(B,H,T,S): softmax of its scores (in p) over the visible keys, zeros after; keys
 * with kmask(B,S) == 0 (key padding, kmask may be NULL) are excluded as -inf scores (a row with none
 * left is zeros, as the CPU); with dropout, w = kept probability * keep_scale (0 when dropped) and
 * p's dropped entries negated */
__global__ void k_att_softmax(float *p, float *w, const float *kmask, int64_t B, int64_t H, int64_t T, int64_t S,
                              int causal, att_drop d) {
  __shared__ double shd[32];
  __shared__ float shf[32];
  for (int64_t r = blockIdx.x; r < B * H * T; r += gridDim.x) {
    int64_t t = r % T, h = (r / T) % H, b = r / (T * H);
    int64_t valid = causal ? t + 1 + S - T : S;
    valid = valid < 0 ? 0 : (valid > S ? S : valid);
    float *pr = p + r * S;
    const float *km = kmask ? kmask + b * S : NULL;
#define ATT_SEEN(s) ((s) < valid && (!km || km[s] != 0.0f))
    float m = -INFINITY;
    for (int64_t s = threadIdx.x; s < valid; s += blockDim.x)
      if (ATT_SEEN(s)) m = fmaxf(m, pr[s]);
    m = cu_block_max(m, shf);
    double sum = 0.0;
    if (m != -INFINITY)
      for (int64_t s = threadIdx.x; s < valid; s += blockDim.x)
        if (ATT_SEEN(s)) sum += (double)expf(pr[s] - m);
    sum = cu_block_sum(sum, shd);
    float inv = sum > 0.0 ? (float)(1.0 / sum) : 0.0f;
    uint64_t key = (uint64_t)((d.key0 + b * d.key_stride) * H * T * S + h * T * S + t * S);
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
      float pv = ATT_SEEN(s) && m != -INFINITY ? expf(pr[s] - m) * inv : 0.0f;
      if (d.p > 0.0f) {
        int keep = s < valid && cu_rng_uniform(d.seed, d.stream, d.step, key + (uint64_t)s) >= d.p;
        w[r * S + s] = keep ? pv * d.keep_scale : 0.0f;
        pr[s] = keep ? pv : -pv;
      } else {
        pr[s] = pv;
      }
    }
#undef ATT_SEEN
  }
}

static int64_t att_work(const struct nn_backend *be, const struct nn_attn_args *a, int backward) {
  int64_t n = a->B * a->H * a->T * a->S, dropout = a->drop.p > 0.0f;
  return backward ? n * (1 + dropout) : n * dropout;
}

static void att_forward(const struct nn_backend *be, const struct nn_attn_args *a) {
  struct cu_ctx *cx = cu_of(be);
  int64_t B = a->B, T = a->T, S = a->S, H = a->H, D = a->D, C = H * D, hts = T * S;
  const float *q = a->q, *k = a->k, *v = a->v;
  float *out = a->out, *p = a->p, *work = a->work, scale = a->scale;
  int causal = a->causal;
  const struct nn_attn_dropout *drop = &a->drop;
  if (B * H * T <= 0) return;
  for (int64_t b = 0; b < B; b++) /* scores(h) = scale * q_h k_h^T into p */
    cu_gemm(cx, 0, 1, T, S, D, scale, q + b * T * C, C, D, k + b * S * C, C, D, 0.0f, p + b * H * hts, S, hts, H);
  att_drop d = {drop->p, drop->p > 0.0f ? 1.0f / (1.0f - drop->p) : 1.0f, drop->stream, drop->seed, drop->step,
                drop->key0, drop->key_stride};
  int64_t rows = B * H * T;
  k_att_softmax<<<(unsigned)(rows < 65536 ? rows : 65536), ATT_THREADS, 0, cx->stream>>>(p, work, a->kmask, B, H, T, S,
                                                                                         causal, d);
  CU_LAUNCHED();
  const float *wsrc = drop->p > 0.0f ? work : p;
  for (int64_t b = 0; b < B; b++) /* out_h = w_h v_h */
    cu_gemm(cx, 0, 0, T, D, S, 1.0f, wsrc + b * H * hts, S, hts, v + b * S * C, C, D, 0.0f, out + b * T * C, C, D, H);
}

/* wd = kept probabilities * keep_scale from the saved p (dropped entries negative) */
__global__ void k_att_dropped(float *wd, const float *p, int64_t n, float keep_scale) {
  CU_FOR(i, n) wd[i] = p[i] > 0.0f ? p[i] * keep_scale : 0.0f;
}
/* dS = |p| * (dP - rowsum(dP * p)) in place in dp, dP = dW * keep_scale where kept */
__global__ void k_att_dscore(float *dp, const float *p, int64_t rows, int64_t S, float keep_scale) {
  __shared__ double sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    float *dr = dp + r * S;
    const float *pr = p + r * S;
    double dot = 0.0;
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
      float dd = pr[s] > 0.0f ? dr[s] * keep_scale : 0.0f;
      dot += (double)dd * pr[s];
    }
    float dt = (float)cu_block_sum(dot, sh);
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
      float dd = pr[s] > 0.0f ? dr[s] * keep_scale : 0.0f;
      dr[s] = fabsf(pr[s]) * (dd - dt);
    }
  }
}

static void att_backward(const struct nn_backend *be, const struct nn_attn_args *a) {
  struct cu_ctx *cx = cu_of(be);
  int64_t B = a->B, T = a->T, S = a->S, H = a->H, D = a->D, C = H * D, hts = T * S, n = B * H * hts;
  const float *q = a->q, *k = a->k, *v = a->v, *dout = a->dout, *p = a->p;
  float *dq = a->dq, *dk = a->dk, *dv = a->dv, *work = a->work, scale = a->scale, drop_p = a->drop.p;
  if (n <= 0) return;
  float keep_scale = drop_p > 0.0f ? 1.0f / (1.0f - drop_p) : 1.0f;
  float *dp = work, *wd = work + n;
  const float *wsrc = p;
  if (drop_p > 0.0f) {
    CU_LAUNCH_N(n, k_att_dropped, wd, p, n, keep_scale);
    wsrc = wd;
  }
  if (dv)
    for (int64_t b = 0; b < B; b++) /* dv_h += w_h^T dout_h */
      cu_gemm(cx, 1, 0, S, D, T, 1.0f, wsrc + b * H * hts, S, hts, dout + b * T * C, C, D, 1.0f, dv + b * S * C, C, D, H);
  if (!dq && !dk) return;
  for (int64_t b = 0; b < B; b++) /* dW_h = dout_h v_h^T */
    cu_gemm(cx, 0, 1, T, S, D, 1.0f, dout + b * T * C, C, D, v + b * S * C, C, D, 0.0f, dp + b * H * hts, S, hts, H);
  int64_t rows = B * H * T;
  k_att_dscore<<<(unsigned)(rows < 65536 ? rows : 65536), ATT_THREADS, 0, cx->stream>>>(dp, p, rows, S, keep_scale);
  CU_LAUNCHED();
  for (int64_t b = 0; b < B; b++) {
    if (dq) /* dq_h += scale * dS_h k_h */
      cu_gemm(cx, 0, 0, T, D, S, scale, dp + b * H * hts, S, hts, k + b * S * C, C, D, 1.0f, dq + b * T * C, C, D, H);
    if (dk) /* dk_h += scale * dS_h^T q_h */
      cu_gemm(cx, 1, 0, S, D, T, scale, dp + b * H * hts, S, hts, q + b * T * C, C, D, 1.0f, dk + b * S * C, C, D, H);
  }
}

extern "C" {
extern const struct nn_k_attn nn_cuda_attn;
const struct nn_k_attn nn_cuda_attn = {.work = att_work, .forward = att_forward, .backward = att_backward};
}
