/* CPU kernels of the rnn ops. */
#include "../ops/rnn.h"
#include <math.h>

#define RNN_PAR 16384 /* elements of work below which the loops stay serial */

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float bias_at(const float *b, int64_t k) { return b ? b[k] : 0.0f; }

static void lstm_fwd(float *out, float *act, const float *c, const float *b_ih, const float *b_hh,
                     int64_t B, int64_t H) {
  float *hn = out, *cn = out + B * H;
#pragma omp parallel for schedule(static) if (B * H > RNN_PAR)
  for (int64_t b = 0; b < B; b++) {
    float *a = act + b * 4 * H;
    if (b_ih)
      for (int64_t k = 0; k < 4 * H; k++) a[k] += b_ih[k];
    if (b_hh)
      for (int64_t k = 0; k < 4 * H; k++) a[k] += b_hh[k];
    const float *cb = c + b * H;
    for (int64_t j = 0; j < H; j++) {
      float i = sigm(a[j]), f = sigm(a[H + j]), gg = tanhf(a[2 * H + j]), o = sigm(a[3 * H + j]);
      a[j] = i;
      a[H + j] = f;
      a[2 * H + j] = gg;
      a[3 * H + j] = o;
      float cc = f * cb[j] + i * gg;
      cn[b * H + j] = cc;
      hn[b * H + j] = o * tanhf(cc);
    }
  }
}

static void lstm_bwd(float *dgates, float *dc, const float *dout, const float *act, const float *c,
                     const float *out, int64_t B, int64_t H) {
  const float *dhn = dout, *dcn = dout + B * H, *cn = out + B * H;
#pragma omp parallel for schedule(static) if (B * H > RNN_PAR)
  for (int64_t b = 0; b < B; b++) {
    const float *a = act + b * 4 * H;
    float *d = dgates + b * 4 * H;
    for (int64_t j = 0; j < H; j++) {
      int64_t k = b * H + j;
      float i = a[j], f = a[H + j], gg = a[2 * H + j], o = a[3 * H + j];
      float tc = tanhf(cn[k]);
      float dct = dcn[k] + dhn[k] * o * (1.0f - tc * tc); /* total gradient of c' */
      d[j] = dct * gg * i * (1.0f - i);
      d[H + j] = dct * c[k] * f * (1.0f - f);
      d[2 * H + j] = dct * i * (1.0f - gg * gg);
      d[3 * H + j] = dhn[k] * tc * o * (1.0f - o);
      if (dc) dc[k] += dct * f;
    }
  }
}

static void gru_fwd(float *hn, float *save, const float *gi, const float *gh, const float *h,
                    const float *b_ih, const float *b_hh, int64_t B, int64_t H) {
#pragma omp parallel for schedule(static) if (B * H > RNN_PAR)
  for (int64_t b = 0; b < B; b++) {
    const float *xi = gi + b * 3 * H, *hi = gh + b * 3 * H;
    float *s = save + b * 4 * H;
    for (int64_t j = 0; j < H; j++) {
      float r = sigm(xi[j] + bias_at(b_ih, j) + hi[j] + bias_at(b_hh, j));
      float z = sigm(xi[H + j] + bias_at(b_ih, H + j) + hi[H + j] + bias_at(b_hh, H + j));
      float ghn = hi[2 * H + j] + bias_at(b_hh, 2 * H + j);
      float n = tanhf(xi[2 * H + j] + bias_at(b_ih, 2 * H + j) + r * ghn);
      hn[b * H + j] = (1.0f - z) * n + z * h[b * H + j];
      s[j] = r;
      s[H + j] = z;
      s[2 * H + j] = n;
      s[3 * H + j] = ghn;
    }
  }
}

static void gru_bwd(float *dgi, float *dgh, float *dh, const float *dhn, const float *save,
                    const float *h, int64_t B, int64_t H) {
#pragma omp parallel for schedule(static) if (B * H > RNN_PAR)
  for (int64_t b = 0; b < B; b++) {
    const float *s = save + b * 4 * H;
    float *di = dgi + b * 3 * H, *dh3 = dgh + b * 3 * H;
    for (int64_t j = 0; j < H; j++) {
      int64_t k = b * H + j;
      float r = s[j], z = s[H + j], n = s[2 * H + j], ghn = s[3 * H + j], d = dhn[k];
      float dz = d * (h[k] - n) * z * (1.0f - z);
      float dn = d * (1.0f - z) * (1.0f - n * n); /* gradient of the n pre-activation */
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
}

static void bias_grad(float *db, const float *dy, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols > RNN_PAR)
  for (int64_t c = 0; c < cols; c++) {
    float s = 0.0f;
    for (int64_t r = 0; r < rows; r++) s += dy[r * cols + c];
    db[c] += s;
  }
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_lstm_fwd(const struct nn_backend *be, const struct nn_rnn_args *a) {
  (void)be;
  lstm_fwd(a->out, a->act, a->c, a->b_ih, a->b_hh, a->B, a->H);
}
static void k_lstm_bwd(const struct nn_backend *be, const struct nn_rnn_args *a) {
  (void)be;
  lstm_bwd(a->dgates, a->dc, a->dout, a->act, a->c, a->out, a->B, a->H);
}
static void k_gru_fwd(const struct nn_backend *be, const struct nn_rnn_args *a) {
  (void)be;
  gru_fwd(a->hn, a->save, a->gi, a->gh, a->h, a->b_ih, a->b_hh, a->B, a->H);
}
static void k_gru_bwd(const struct nn_backend *be, const struct nn_rnn_args *a) {
  (void)be;
  gru_bwd(a->dgi, a->dgh, a->dh, a->dhn, a->save, a->h, a->B, a->H);
}
static void k_bias_grad(const struct nn_backend *be, const struct nn_rnn_args *a) { (void)be; bias_grad(a->db, a->dy, a->rows, a->cols); }
const struct nn_k_rnn nn_cpu_rnn = {
    .lstm_fwd = k_lstm_fwd, .lstm_bwd = k_lstm_bwd, .gru_fwd = k_gru_fwd, .gru_bwd = k_gru_bwd, .bias_grad = k_bias_grad};
