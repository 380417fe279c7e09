/* CUDA kernels of the rnn_seq ops: the LSTM recurrence over a whole sequence (src/ops/rnn_seq.h),
 * the same semantics and layouts as src/cpu/rnn_seq_cpu.c. Per step one cuBLAS product for the
 * whole batch (h_prev W_hh^T into the act slice of time t, batch stride T*4H) and one fused gate
 * kernel over (B,H); the backward per step: a gate-gradient kernel (also dxg +=), dW_hh += dG^T h_prev
 * (GEMM, beta 1), db += column sums of dG (fixed order) and dh_prev = dG W_hh. No atomics: the same
 * bits for the same inputs. Compiled, never run on a GPU. */
#include "cu_common.cuh"
extern "C" {
#include "ops/rnn_seq.h"
}

__device__ __forceinline__ float seq_sigm(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float seq_tanh(float x) { return 2.0f / (1.0f + expf(-2.0f * x)) - 1.0f; }

/* step t of the forward, one thread per (row r, unit j): act row r at time t holds h_prev W_hh^T
 * (when hp) and becomes the gate activations i,f,g,o; oh/oc get h_t, c_t. cp: previous cell state
 * with row stride ldp (NULL: zeros). */
__global__ void k_seq_lstm_fwd(float *act, float *oh, float *oc, const float *xg, const float *b, const float *cp,
                               int64_t ldp, int hp, int64_t B, int64_t T, int64_t H, int64_t t) {
  const int64_t G = 4 * H;
  CU_FOR(e, B * H) {
    int64_t r = e / H, j = e % H;
    float *ar = act + r * T * G + t * G;
    const float *xr = xg + r * T * G + t * G;
    float pre[4];
#pragma unroll
    for (int q = 0; q < 4; q++) {
      int64_t k = q * H + j;
      float base = hp ? ar[k] : 0.0f;
      pre[q] = b ? base + (xr[k] + b[k]) : base + xr[k];
    }
    float i = seq_sigm(pre[0]), f = seq_sigm(pre[1]), g = seq_tanh(pre[2]), o = seq_sigm(pre[3]);
    float c = i * g + (cp ? f * cp[r * ldp + j] : 0.0f);
    ar[j] = i;
    ar[H + j] = f;
    ar[2 * H + j] = g;
    ar[3 * H + j] = o;
    oc[r * T * H + t * H + j] = c;
    oh[r * T * H + t * H + j] = o * seq_tanh(c);
  }
}

static void seq_lstm_fwd(const struct nn_backend *be, const struct nn_rnn_seq_args *a) {
  struct cu_ctx *cx = cu_of(be);
  const int64_t B = a->B, T = a->T, H = a->H, G = 4 * H;
  if (B <= 0 || T <= 0 || H <= 0) return;
  float *oh = a->out, *oc = a->out + B * T * H;
  for (int64_t s = 0; s < T; s++) {
    int64_t t = a->reverse ? T - 1 - s : s, tp = a->reverse ? t + 1 : t - 1, ld = s ? T * H : H;
    const float *hp = s ? oh + tp * H : a->h0;
    const float *cp = s ? oc + tp * H : a->c0;
    if (hp) cu_gemm(cx, 0, 1, B, G, H, 1.0f, hp, ld, 0, a->w_hh, H, 0, 0.0f, a->act + t * G, T * G, 0, 1);
    CU_LAUNCH_N(B * H, k_seq_lstm_fwd, a->act, oh, oc, a->xg, a->b, cp, ld, hp != NULL, B, T, H, t);
  }
}

/* step t of the backward, one thread per (r, j): dG(B,4H) from the saved gates, the state gradients
 * dh, dc (B,H) of the step after (dc updated in place to the previous step's) and dout at t;
 * dxg(B,T,4H) += dG when not NULL. */
__global__ void k_seq_lstm_bwd(float *dG, float *dc, float *dxg, const float *dh, const float *act, const float *oc,
                               const float *cp, int64_t ldp, const float *dout, int64_t B, int64_t T, int64_t H,
                               int64_t t) {
  const int64_t G = 4 * H;
  CU_FOR(e, B * H) {
    int64_t r = e / H, j = e % H;
    const float *ar = act + r * T * G + t * G;
    float i = ar[j], f = ar[H + j], g = ar[2 * H + j], o = ar[3 * H + j];
    float tc = seq_tanh(oc[r * T * H + t * H + j]);
    float dht = dout[r * T * H + t * H + j] + dh[r * H + j];
    float dct = dout[(B + r) * T * H + t * H + j] + dc[r * H + j] + dht * o * (1.0f - tc * tc);
    float *dgr = dG + r * G;
    dgr[j] = dct * g * i * (1.0f - i);
    dgr[H + j] = cp ? dct * cp[r * ldp + j] * f * (1.0f - f) : 0.0f;
    dgr[2 * H + j] = dct * i * (1.0f - g * g);
    dgr[3 * H + j] = dht * tc * o * (1.0f - o);
    dc[r * H + j] = dct * f;
    if (dxg) {
      float *dx = dxg + r * T * G + t * G;
#pragma unroll
      for (int q = 0; q < 4; q++) dx[q * H + j] += dgr[q * H + j];
    }
  }
}

/* dh0 += dh, dc0 += dc (each may be NULL) */
__global__ void k_seq_state_grad(float *dh0, float *dc0, const float *dh, const float *dc, int64_t n) {
  CU_FOR(e, n) {
    if (dh0) dh0[e] += dh[e];
    if (dc0) dc0[e] += dc[e];
  }
}

static void seq_lstm_bwd(const struct nn_backend *be, const struct nn_rnn_seq_args *a) {
  struct cu_ctx *cx = cu_of(be);
  const int64_t B = a->B, T = a->T, H = a->H, G = 4 * H;
  if (B <= 0 || T <= 0 || H <= 0) return;
  const float *oh = a->out, *oc = a->out + B * T * H;
  float *dG = a->work, *dh = a->work + B * G, *dc = dh + B * H; /* (B,4H), (B,H), (B,H) as the CPU */
  CU_CHECK(cudaMemsetAsync(dh, 0, sizeof(float) * (size_t)(2 * B * H), cx->stream));
  for (int64_t s = T - 1; s >= 0; s--) {
    int64_t t = a->reverse ? T - 1 - s : s, tp = a->reverse ? t + 1 : t - 1, ld = s ? T * H : H;
    const float *hp = s ? oh + tp * H : a->h0;
    const float *cp = s ? oc + tp * H : a->c0;
    CU_LAUNCH_N(B * H, k_seq_lstm_bwd, dG, dc, a->dxg, dh, a->act, oc, cp, ld, a->dout, B, T, H, t);
    if (a->db) cu_sum_mid(cx, a->db, dG, NULL, 1, B, G, 1.0f, 1); /* db(4H) += sum over rows of dG */
    if (a->dw_hh && hp) cu_gemm(cx, 1, 0, G, H, B, 1.0f, dG, G, 0, hp, ld, 0, 1.0f, a->dw_hh, H, 0, 1); /* += dG^T h_prev */
    if (s > 0 || a->dh0) cu_gemm(cx, 0, 0, B, H, G, 1.0f, dG, G, 0, a->w_hh, H, 0, 0.0f, dh, H, 0, 1); /* dh_prev = dG W_hh */
  }
  if (a->dh0 || a->dc0) CU_LAUNCH_N(B * H, k_seq_state_grad, a->dh0, a->dc0, dh, dc, B * H);
}

extern "C" {
extern const struct nn_k_rnn_seq nn_cuda_rnn_seq;
const struct nn_k_rnn_seq nn_cuda_rnn_seq = {.lstm_fwd = seq_lstm_fwd, .lstm_bwd = seq_lstm_bwd};
}
