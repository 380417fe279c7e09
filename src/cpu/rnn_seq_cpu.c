/* CPU kernels of the rnn_seq ops: the LSTM recurrence over a whole sequence. The batch is split
 * into one slab of rows per OpenMP thread; rows are independent through time, so each thread runs
 * all T steps of its slab (single-threaded OpenBLAS product + fused gates) with no barrier
 * between steps. Weight and bias gradients go to per-thread accumulators, summed in thread order
 * afterwards (bit-identical for a given thread count). */
#include "../ops/rnn_seq.h"
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_math.h"

void nn_cpu_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

#define SEQ_PAR_FLOPS 1e5 /* sequences below this many recurrent flops keep the batch on one thread (one parallel region per sequence) */

static inline float sigm(float x) { return 1.0f / (1.0f + nn_cpu_expf(-x)); }
static inline float tanh_f(float x) { return 2.0f / (1.0f + nn_cpu_expf(-2.0f * x)) - 1.0f; }

/* Threads for a batch of B rows of hidden size H (at most one per row). */
static int seq_threads(int64_t B, int64_t T, int64_t H) {
  int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (2.0 * (double)B * (double)T * 4.0 * (double)H * (double)H < SEQ_PAR_FLOPS) nt = 1;
  return nt > B ? (int)B : nt;
}

/* Rows [lo, hi) of thread `t` of nt over B rows. */
static void slab(int64_t B, int nt, int t, int64_t *lo, int64_t *hi) {
  *lo = B * t / nt;
  *hi = B * (t + 1) / nt;
}

static void lstm_fwd_rows(const struct nn_rnn_seq_args *a, int64_t b0, int64_t nb) {
  const int64_t T = a->T, H = a->H, G = 4 * H;
  float *oh = a->out + b0 * T * H, *oc = a->out + (a->B + b0) * T * H, *act = a->act + b0 * T * G;
  const float *xg = a->xg + b0 * T * G;
  for (int64_t s = 0; s < T; s++) {
    int64_t t = a->reverse ? T - 1 - s : s, tp = a->reverse ? t + 1 : t - 1, ld = s ? T * H : H;
    const float *hp = s ? oh + tp * H : (a->h0 ? a->h0 + b0 * H : NULL);
    const float *cp = s ? oc + tp * H : (a->c0 ? a->c0 + b0 * H : NULL);
    float *A = act + t * G;
    if (hp) nn_cpu_sgemm(0, 1, nb, G, H, 1.0f, hp, ld, a->w_hh, H, 0.0f, A, T * G); /* h_prev W_hh^T */
    for (int64_t r = 0; r < nb; r++) {
      float *ar = A + r * T * G, *hr = oh + r * T * H + t * H, *cr = oc + r * T * H + t * H;
      const float *xr = xg + r * T * G, *cpr = cp ? cp + r * ld : NULL;
      xr += t * G;
      if (!hp) memset(ar, 0, sizeof(float) * (size_t)G);
      if (a->b)
        for (int64_t k = 0; k < G; k++) ar[k] += xr[k] + a->b[k];
      else
        for (int64_t k = 0; k < G; k++) ar[k] += xr[k];
#pragma omp simd
      for (int64_t j = 0; j < H; j++) {
        float i = sigm(ar[j]), f = sigm(ar[H + j]), g = tanh_f(ar[2 * H + j]), o = sigm(ar[3 * H + j]);
        float c = i * g + (cpr ? f * cpr[j] : 0.0f);
        ar[j] = i;
        ar[H + j] = f;
        ar[2 * H + j] = g;
        ar[3 * H + j] = o;
        cr[j] = c;
        hr[j] = o * tanh_f(c);
      }
    }
  }
}

static void lstm_fwd(const struct nn_backend *be, const struct nn_rnn_seq_args *a) {
  (void)be;
  int nt = seq_threads(a->B, a->T, a->H);
  if (nt == 1) {
    lstm_fwd_rows(a, 0, a->B);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int t = 0; t < nt; t++) {
    int64_t lo, hi;
    slab(a->B, nt, t, &lo, &hi);
    lstm_fwd_rows(a, lo, hi - lo);
  }
}

/* Backward of rows [b0, b0+nb); dw (4H,H) and db (4H) are this thread's accumulators (or NULL);
 * work holds nb*6H floats. */
static void lstm_bwd_rows(const struct nn_rnn_seq_args *a, int64_t b0, int64_t nb, float *dw, float *db, float *work) {
  const int64_t T = a->T, H = a->H, G = 4 * H, B = a->B;
  const float *oh = a->out + b0 * T * H, *oc = a->out + (B + b0) * T * H, *act = a->act + b0 * T * G;
  const float *dh_out = a->dout + b0 * T * H, *dc_out = a->dout + (B + b0) * T * H;
  float *dG = work, *dh = work + nb * G, *dc = dh + nb * H; /* (nb,4H), (nb,H), (nb,H) */
  memset(dh, 0, sizeof(float) * (size_t)(2 * nb * H));
  for (int64_t s = T - 1; s >= 0; s--) {
    int64_t t = a->reverse ? T - 1 - s : s, tp = a->reverse ? t + 1 : t - 1, ld = s ? T * H : H;
    const float *hp = s ? oh + tp * H : (a->h0 ? a->h0 + b0 * H : NULL);
    const float *cp = s ? oc + tp * H : (a->c0 ? a->c0 + b0 * H : NULL);
    for (int64_t r = 0; r < nb; r++) {
      const float *ar = act + r * T * G + t * G, *cr = oc + r * T * H + t * H, *cpr = cp ? cp + r * ld : NULL;
      const float *dhr = dh_out + r * T * H + t * H, *dcr = dc_out + r * T * H + t * H;
      float *dgr = dG + r * G, *dhp = dh + r * H, *dcp = dc + r * H;
#pragma omp simd
      for (int64_t j = 0; j < H; j++) {
        float i = ar[j], f = ar[H + j], g = ar[2 * H + j], o = ar[3 * H + j];
        float tc = tanh_f(cr[j]), dht = dhr[j] + dhp[j];
        float dct = dcr[j] + dcp[j] + dht * o * (1.0f - tc * tc);
        dgr[j] = dct * g * i * (1.0f - i);
        dgr[H + j] = cpr ? dct * cpr[j] * f * (1.0f - f) : 0.0f;
        dgr[2 * H + j] = dct * i * (1.0f - g * g);
        dgr[3 * H + j] = dht * tc * o * (1.0f - o);
        dcp[j] = dct * f;
      }
      if (a->dxg) {
        float *dx = a->dxg + (b0 + r) * T * G + t * G;
        for (int64_t k = 0; k < G; k++) dx[k] += dgr[k];
      }
      if (db)
        for (int64_t k = 0; k < G; k++) db[k] += dgr[k];
    }
    if (dw && hp) nn_cpu_sgemm(1, 0, G, H, nb, 1.0f, dG, G, hp, ld, 1.0f, dw, H); /* dW_hh += dG^T h_prev */
    if (s > 0 || a->dh0) nn_cpu_sgemm(0, 0, nb, H, G, 1.0f, dG, G, a->w_hh, H, 0.0f, dh, H); /* dh_prev = dG W_hh */
    else memset(dh, 0, sizeof(float) * (size_t)(nb * H));
  }
  for (int64_t r = 0; r < nb; r++)
    for (int64_t j = 0; j < H; j++) {
      if (a->dh0) a->dh0[(b0 + r) * H + j] += dh[r * H + j];
      if (a->dc0) a->dc0[(b0 + r) * H + j] += dc[r * H + j];
    }
}

static void lstm_bwd(const struct nn_backend *be, const struct nn_rnn_seq_args *a) {
  (void)be;
  const int64_t H = a->H, G = 4 * H;
  int nt = seq_threads(a->B, a->T, a->H);
  /* with more than one thread: private dW (4H*H) and db (4H) accumulators per thread; without
   * memory for them, one thread accumulates in place */
  float *priv = nt > 1 ? calloc((size_t)(nt * (G * H + G)), sizeof(float)) : NULL;
  if (!priv) nt = 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (int t = 0; t < nt; t++) {
    int64_t lo, hi;
    slab(a->B, nt, t, &lo, &hi);
    float *dw = priv ? (a->dw_hh ? priv + t * (G * H + G) : NULL) : a->dw_hh;
    float *db = priv ? (a->db ? priv + t * (G * H + G) + G * H : NULL) : a->db;
    lstm_bwd_rows(a, lo, hi - lo, dw, db, a->work + lo * 6 * H);
  }
  if (priv) {
    for (int t = 0; t < nt; t++) { /* in thread order: deterministic */
      const float *mine = priv + t * (G * H + G);
      if (a->dw_hh)
#pragma omp parallel for schedule(static)
        for (int64_t k = 0; k < G * H; k++) a->dw_hh[k] += mine[k];
      if (a->db)
        for (int64_t k = 0; k < G; k++) a->db[k] += mine[G * H + k];
    }
    free(priv);
  }
}

const struct nn_k_rnn_seq nn_cpu_rnn_seq = {.lstm_fwd = lstm_fwd, .lstm_bwd = lstm_bwd};
