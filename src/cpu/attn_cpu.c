/* CPU kernels of the attn ops: per (batch, head) pair, sgemm on the strided head slices with the
 * softmax in between; pairs run in parallel (single-threaded sgemm) when there are enough of them. */
#include "cpu_math.h"
#include "../ops/attn.h"
#include "../nn_rng.h"
#include <math.h>
#include <omp.h>

/* c(m,n) = alpha * op(a) op(b) + beta * c, row-major with leading dimensions (backend_cpu.c: over the
 * OpenMP threads outside a parallel region, single-threaded inside one) */
void nn_cpu_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

#define ATTN_CAUSAL_ROWS 32 /* causal: query rows per block; a block skips the keys after its last row */

/* Threads over (b,h) pairs: all of them when there are enough pairs, else 1 (threaded sgemm). */
static int attn_threads(int64_t pairs) {
  int nt = omp_get_max_threads();
  return pairs >= (nt + 1) / 2 ? nt : 1;
}

/* floats of workspace: per thread slot, in forward the scores of a block of rows (T,S at most) and
 * the dropped probabilities (T,S); in backward dW/dS (T,S) and the dropped probabilities */
static int64_t attn_work(int64_t B, int64_t H, int64_t T, int64_t S, int backward, int dropout) {
  int64_t slot = T * S * (1 + dropout);
  return slot * attn_threads(B * H);
}

/* Rows [t0,t1) of a block and the keys [0, s1) they can see. */
static int64_t attn_block_keys(int64_t t1, int64_t T, int64_t S, int causal) { return causal ? t1 + S - T : S; }
static int64_t attn_block_rows(int64_t T, int causal) { return causal ? ATTN_CAUSAL_ROWS : T; }


/* One query row: x(n) holds its scores against the block's keys [0, n), of which the first `valid`
 * are visible (causal mask). p(S) gets the softmax (0 where masked) and, with dropout, w(n) the
 * dropped probabilities * keep_scale and p's dropped entries negated; the rule is nn_dropout_keep's
 * (uniform at key + s >= p), with no random numbers drawn for masked entries. x is scratch: the
 * scores stay in cache while p is written once. The loops run over `valid` rounded up to 16 with the
 * extra entries masked (-inf scores, uniforms of 1): masked lanes cost less than a scalar tail. */
static void attn_softmax_row(float *p, float *x, float *w, int64_t n, int64_t valid, int64_t S, uint64_t key,
                             const struct nn_attn_dropout *drop, float keep_scale, const float *kmask) {
  int64_t nv = (valid + 15) / 16 * 16 < n ? (valid + 15) / 16 * 16 : n;
  if (kmask) /* key padding: excluded keys score -inf (probability 0, no gradient) */
    for (int64_t s = 0; s < valid; s++)
      if (kmask[s] == 0.0f) x[s] = -INFINITY;
  for (int64_t s = valid; s < nv; s++) x[s] = -INFINITY;
  float sum = nn_cpu_exp_row(x, nv), inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  if (drop->p > 0.0f) {
    nn_rng_uniform_run(w, valid, drop->seed, drop->stream, drop->step, key);
    for (int64_t s = valid; s < nv; s++) w[s] = 1.0f;
#pragma omp simd
    for (int64_t s = 0; s < nv; s++) {
      float pv = x[s] * inv;
      int keep = w[s] >= drop->p;
      w[s] = keep ? pv * keep_scale : 0.0f;
      p[s] = keep ? pv : -pv;
    }
    for (int64_t s = nv; s < n; s++) w[s] = 0.0f;
  } else {
#pragma omp simd
    for (int64_t s = 0; s < nv; s++) p[s] = x[s] * inv;
  }
  for (int64_t s = nv; s < S; s++) p[s] = 0.0f;
}

/* Run body(pair, slot) over the B*H pairs, in parallel when attn_threads says so. */
#define ATTN_FOR_PAIRS(B, H, pair, slot, body)                                      \
  do {                                                                              \
    int nt_ = attn_threads((B) * (H));                                              \
    _Pragma("omp parallel for schedule(static) num_threads(nt_) if (nt_ > 1)")      \
    for (int64_t pair = 0; pair < (B) * (H); pair++) {                              \
      int slot = omp_get_thread_num();                                              \
      body;                                                                         \
    }                                                                               \
  } while (0)

/* one (b,h) pair: out[b,:,h] (T,D) = dropped softmax(q[b,:,h] k[b,:,h]^T * scale) (T,S) @ v[b,:,h] (S,D) */
static void attn_forward_pair(float *out, float *p, float *work, const float *q, const float *k, const float *v,
                              int64_t b, int64_t h, int64_t T, int64_t S, int64_t H, int64_t D, float scale,
                              int causal, const struct nn_attn_dropout *drop, const float *kmask) {
  int64_t C = H * D, rb = attn_block_rows(T, causal);
  const float *qh = q + b * T * C + h * D, *kh = k + b * S * C + h * D, *vh = v + b * S * C + h * D;
  float *oh = out + b * T * C + h * D, *ph = p + (b * H + h) * T * S;
  float keep_scale = drop->p > 0.0f ? 1.0f / (1.0f - drop->p) : 1.0f;
  uint64_t key = (uint64_t)((drop->key0 + b * drop->key_stride) * H * T * S + h * T * S);
  float *x = work, *w = work + T * S; /* a block's scores; its dropped probabilities */
  for (int64_t t0 = 0; t0 < T; t0 += rb) {
    int64_t t1 = t0 + rb < T ? t0 + rb : T, nr = t1 - t0, s1 = attn_block_keys(t1, T, S, causal);
    nn_cpu_sgemm(0, 1, nr, s1, D, scale, qh + t0 * C, C, kh, C, 0.0f, x, S); /* scores */
    for (int64_t t = t0; t < t1; t++) /* row t of a causal block sees the keys s <= t + S - T */
      attn_softmax_row(ph + t * S, x + (t - t0) * S, w + (t - t0) * S, s1, causal ? t + 1 + S - T : s1, S,
                       key + (uint64_t)(t * S), drop, keep_scale, kmask ? kmask + b * S : NULL);
    const float *wb = drop->p > 0.0f ? w : ph + t0 * S;
    nn_cpu_sgemm(0, 0, nr, D, s1, 1.0f, wb, S, vh, C, 0.0f, oh + t0 * C, C);
  }
}

static void attn_forward(float *out, float *p, float *work, const float *q, const float *k, const float *v, int64_t B,
                         int64_t T, int64_t S, int64_t H, int64_t D, float scale, int causal,
                         const struct nn_attn_dropout *drop, const float *kmask) {
  int64_t slot_size = T * S * (drop->p > 0.0f ? 2 : 1);
  ATTN_FOR_PAIRS(B, H, pair, slot,
                 attn_forward_pair(out, p, work + slot * slot_size, q, k, v, pair / H, pair % H, T, S, H, D, scale,
                                   causal, drop, kmask));
}

/* dS(n) = P * (dP - rowsum(dP * P)) in place in dp, with dP = dW * keep_scale where kept (p > 0), from
 * the saved row p (dropped entries negated) */
static void attn_dscore_row(float *dp, const float *p, int64_t n, float keep_scale) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int64_t s = 0; s < n; s++) {
    float d = p[s] > 0.0f ? dp[s] * keep_scale : 0.0f;
    dp[s] = d;
    dot += d * p[s];
  }
#pragma omp simd
  for (int64_t s = 0; s < n; s++) dp[s] = fabsf(p[s]) * (dp[s] - dot);
}

/* one (b,h) pair: dq[b,:,h] (T,D), dk[b,:,h], dv[b,:,h] (S,D) += gradients from dout[b,:,h] (T,D) */
static void attn_backward_pair(float *dq, float *dk, float *dv, float *w, const float *dout, const float *p,
                               const float *q, const float *k, const float *v, int64_t b, int64_t h, int64_t T,
                               int64_t S, int64_t H, int64_t D, float scale, float drop_p, int causal) {
  int64_t C = H * D, rb = attn_block_rows(T, causal), qo = b * T * C + h * D, ko = b * S * C + h * D;
  const float *ph = p + (b * H + h) * T * S;
  float keep_scale = drop_p > 0.0f ? 1.0f / (1.0f - drop_p) : 1.0f;
  float *dp = w, *wd = w + T * S; /* dW / dS, and the dropped probabilities */
  for (int64_t t0 = 0; t0 < T; t0 += rb) {
    int64_t t1 = t0 + rb < T ? t0 + rb : T, nr = t1 - t0, s1 = attn_block_keys(t1, T, S, causal);
    const float *wb = ph + t0 * S; /* the probabilities used in forward */
    if (drop_p > 0.0f) {
      for (int64_t t = t0; t < t1; t++) {
#pragma omp simd
        for (int64_t s = 0; s < s1; s++) wd[t * S + s] = ph[t * S + s] > 0.0f ? ph[t * S + s] * keep_scale : 0.0f;
      }
      wb = wd + t0 * S;
    }
    if (dv) nn_cpu_sgemm(1, 0, s1, D, nr, 1.0f, wb, S, dout + qo + t0 * C, C, 1.0f, dv + ko, C);
    if (!dq && !dk) continue;
    nn_cpu_sgemm(0, 1, nr, s1, D, 1.0f, dout + qo + t0 * C, C, v + ko, C, 0.0f, dp + t0 * S, S); /* dW */
    for (int64_t t = t0; t < t1; t++) attn_dscore_row(dp + t * S, ph + t * S, s1, keep_scale);
    if (dq) nn_cpu_sgemm(0, 0, nr, D, s1, scale, dp + t0 * S, S, k + ko, C, 1.0f, dq + qo + t0 * C, C);
    if (dk) nn_cpu_sgemm(1, 0, s1, D, nr, scale, dp + t0 * S, S, q + qo + t0 * C, C, 1.0f, dk + ko, C);
  }
}

static void attn_backward(float *dq, float *dk, float *dv, float *work, const float *dout, const float *p,
                          const float *q, const float *k, const float *v, int64_t B, int64_t T, int64_t S, int64_t H,
                          int64_t D, float scale, int causal, float drop_p) {
  int64_t slot_size = T * S * (drop_p > 0.0f ? 2 : 1);
  ATTN_FOR_PAIRS(B, H, pair, slot,
                 attn_backward_pair(dq, dk, dv, work + slot * slot_size, dout, p, q, k, v, pair / H, pair % H, T, S,
                                    H, D, scale, drop_p, causal));
}


/* the kernel table: adapters from the argument struct to the kernels above */
static int64_t k_work(const struct nn_backend *be, const struct nn_attn_args *a, int backward) {
  (void)be;
  return attn_work(a->B, a->H, a->T, a->S, backward, a->drop.p > 0.0f);
}
static void k_forward(const struct nn_backend *be, const struct nn_attn_args *a) {
  (void)be;
  attn_forward(a->out, a->p, a->work, a->q, a->k, a->v, a->B, a->T, a->S, a->H, a->D, a->scale, a->causal, &a->drop, a->kmask);
}
static void k_backward(const struct nn_backend *be, const struct nn_attn_args *a) {
  (void)be;
  attn_backward(a->dq, a->dk, a->dv, a->work, a->dout, a->p, a->q, a->k, a->v, a->B, a->T, a->S, a->H, a->D, a->scale,
                a->causal, a->drop.p);
}
const struct nn_k_attn nn_cpu_attn = {.work = k_work, .forward = k_forward, .backward = k_backward};
