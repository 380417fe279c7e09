/* CPU kernels of the optimizers (elementwise over one flat segment, OpenMP over elements). */
#include "../nn_optim.h"
#include <math.h>

#define OPT_PAR 32768 /* elements below which the loops stay serial */

static void sgd(float *p, float *buf, const float *g, int64_t n, float lr, float wd, float mu, int nesterov) {
  if (!buf) {
#pragma omp parallel for simd schedule(static) if (n > OPT_PAR)
    for (int64_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
    return;
  }
#pragma omp parallel for simd schedule(static) if (n > OPT_PAR)
  for (int64_t i = 0; i < n; i++) {
    float d = g[i] + wd * p[i];
    float b = mu * buf[i] + d;
    buf[i] = b;
    p[i] -= lr * (nesterov ? d + mu * b : b); /* nesterov steps along d + mu*buf */
  }
}

static void adam(float *p, float *m, float *v, const float *g, int64_t n, float lr, float wd, int decoupled,
                 float b1, float b2, float eps, float step_size, float bc2_sqrt) {
  float shrink = decoupled ? (float)(1.0 - (double)lr * wd) : 1.0f; /* AdamW: p *= 1 - lr*wd */
  float l2 = decoupled ? 0.0f : wd;                                  /* Adam: g += wd*p */
  float w1 = 1.0f - b1, w2 = 1.0f - b2;
#pragma omp parallel for simd schedule(static) if (n > OPT_PAR)
  for (int64_t i = 0; i < n; i++) {
    float pi = p[i] * shrink;
    float gi = g[i] + l2 * pi;
    float mi = b1 * m[i] + w1 * gi;
    float vi = v[i] * b2 + w2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
  }
}

static double sumsq(const float *x, int64_t n) {
  double s = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : s) if (n > OPT_PAR)
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return s;
}

static void scale(float *x, float a, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > OPT_PAR)
  for (int64_t i = 0; i < n; i++) x[i] *= a;
}

static void clamp(float *x, float lo, float hi, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > OPT_PAR)
  for (int64_t i = 0; i < n; i++) x[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]); /* NaN stays NaN */
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_sgd(const struct nn_backend *be, const struct nn_optim_args *a) {
  (void)be;
  sgd(a->p, a->buf, a->g, a->n, a->lr, a->wd, a->mu, a->nesterov);
}
static void k_adam(const struct nn_backend *be, const struct nn_optim_args *a) {
  (void)be;
  adam(a->p, a->m, a->v, a->g, a->n, a->lr, a->wd, a->decoupled, a->b1, a->b2, a->eps, a->step_size, a->bc2_sqrt);
}
static double k_sumsq(const struct nn_backend *be, const float *x, int64_t n) { (void)be; return sumsq(x, n); }
static void k_scale(const struct nn_backend *be, float *x, float a, int64_t n) { (void)be; scale(x, a, n); }
static void k_clamp(const struct nn_backend *be, float *x, float lo, float hi, int64_t n) { (void)be; clamp(x, lo, hi, n); }
const struct nn_k_optim nn_cpu_optim = {.sgd = k_sgd, .adam = k_adam, .sumsq = k_sumsq, .scale = k_scale, .clamp = k_clamp};
