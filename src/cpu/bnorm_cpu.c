/* CPU kernels of the bnorm ops (one channel per OpenMP iteration; sums in double). */
#include "../ops/bnorm.h"
#include <math.h>

#define BN_PAR_WORK 32768 /* elements below which a kernel stays single-threaded */

/* Sums over channel ch of x(n,c,hw): without dy, *s1 = sum (x - shift) and *s2 = sum (x - shift)^2;
 * with dy, *s1 = sum dy and *s2 = sum dy * (x - shift). */
static void bn_sums(double *s1, double *s2, const float *x, const float *dy, float shift, int64_t n, int64_t c,
                    int64_t hw, int64_t ch) {
  double a = 0.0, b = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const float *xr = x + (i * c + ch) * hw, *gr = dy ? dy + (i * c + ch) * hw : NULL;
    float ra = 0.0f, rb = 0.0f;
    if (gr) {
#pragma omp simd reduction(+ : ra, rb)
      for (int64_t k = 0; k < hw; k++) {
        ra += gr[k];
        rb += gr[k] * (xr[k] - shift);
      }
    } else {
#pragma omp simd reduction(+ : ra, rb)
      for (int64_t k = 0; k < hw; k++) {
        float v = xr[k] - shift;
        ra += v;
        rb += v * v;
      }
    }
    a += ra;
    b += rb;
  }
  *s1 = a;
  *s2 = b;
}

/* out(n,c,hw) (+)= alpha * in(n,c,hw) + beta * (x - shift) + gamma on channel ch (in may be NULL). */
static void bn_affine(float *out, const float *in, const float *x, float alpha, float beta, float gamma,
                      float shift, int accumulate, int64_t n, int64_t c, int64_t hw, int64_t ch) {
  for (int64_t i = 0; i < n; i++) {
    int64_t o = (i * c + ch) * hw;
    float *yr = out + o;
    const float *xr = x + o, *ir = in ? in + o : x + o;
    for (int64_t k = 0; k < hw; k++) {
      float v = alpha * ir[k] + beta * (xr[k] - shift) + gamma;
      yr[k] = accumulate ? yr[k] + v : v;
    }
  }
}

static void fwd(float *y, float *mean, float *invstd, float *rm, float *rv, const float *x, const float *w,
                const float *b, int64_t n, int64_t c, int64_t hw, float momentum, float eps, int batch) {
  int64_t m = n * hw;
#pragma omp parallel for schedule(static) if (n * c * hw > BN_PAR_WORK)
  for (int64_t ch = 0; ch < c; ch++) {
    float mu, is;
    if (batch) {
      double s, sq, unused;
      bn_sums(&s, &unused, x, NULL, 0.0f, n, c, hw, ch);
      mu = (float)(s / (double)m);
      bn_sums(&s, &sq, x, NULL, mu, n, c, hw, ch); /* second pass around the mean: no cancellation */
      double var = (sq - s * s / (double)m) / (double)m;
      if (var < 0) var = 0;
      is = (float)(1.0 / sqrt(var + (double)eps));
      if (rm) {
        rm[ch] = (1.0f - momentum) * rm[ch] + momentum * mu;
        rv[ch] = (1.0f - momentum) * rv[ch] + momentum * (float)(var * (double)m / (double)(m - 1));
      }
    } else {
      mu = rm[ch];
      is = 1.0f / sqrtf(rv[ch] + eps);
    }
    mean[ch] = mu;
    invstd[ch] = is;
    /* y = (x - mu) * is * w + b */
    bn_affine(y, NULL, x, 0.0f, is * (w ? w[ch] : 1.0f), b ? b[ch] : 0.0f, mu, 0, n, c, hw, ch);
  }
}

static void bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *mean,
                const float *invstd, const float *w, int64_t n, int64_t c, int64_t hw, int batch) {
  double m = (double)(n * hw);
#pragma omp parallel for schedule(static) if (n * c * hw > BN_PAR_WORK)
  for (int64_t ch = 0; ch < c; ch++) {
    float mu = mean[ch], is = invstd[ch], k = is * (w ? w[ch] : 1.0f);
    double sdy = 0.0, sdyx = 0.0; /* sum dy, sum dy * (x - mean) */
    if (dw || db || batch) bn_sums(&sdy, &sdyx, x, dy, mu, n, c, hw, ch);
    if (dw) dw[ch] += (float)(sdyx * is);
    if (db) db[ch] += (float)sdy;
    if (!dx) continue;
    if (batch) /* dx = k * (dy - mean(dy) - xhat * mean(dy * xhat)) */
      bn_affine(dx, dy, x, k, (float)(-k * is * is * sdyx / m), (float)(-k * sdy / m), mu, 1, n, c, hw, ch);
    else
      bn_affine(dx, dy, x, k, 0.0f, 0.0f, mu, 1, n, c, hw, ch);
  }
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_fwd(const struct nn_backend *be, const struct nn_bnorm_args *a) {
  (void)be;
  fwd(a->y, a->mean, a->invstd, a->rm, a->rv, a->x, a->w, a->b, a->n, a->c, a->hw, a->momentum, a->eps, a->batch);
}
static void k_bwd(const struct nn_backend *be, const struct nn_bnorm_args *a) {
  (void)be;
  bwd(a->dx, a->dw, a->db, a->dy, a->x, a->mean, a->invstd, a->w, a->n, a->c, a->hw, a->batch);
}
static void k_sums(const struct nn_backend *be, const struct nn_bnorm_args *a) {
  (void)be;
#pragma omp parallel for schedule(static) if (a->n * a->c * a->hw > BN_PAR_WORK)
  for (int64_t ch = 0; ch < a->c; ch++)
    bn_sums(&a->s1[ch], &a->s2[ch], a->x, a->dy, a->shift ? a->shift[ch] : 0.0f, a->n, a->c, a->hw, ch);
}
static void k_bwd_dx(const struct nn_backend *be, const struct nn_bnorm_args *a) {
  (void)be;
#pragma omp parallel for schedule(static) if (a->n * a->c * a->hw > BN_PAR_WORK)
  for (int64_t ch = 0; ch < a->c; ch++) {
    float is = a->invstd[ch], k = is * (a->w ? a->w[ch] : 1.0f);
    bn_affine(a->dx, a->dy, a->x, k, (float)(-k * is * is * a->s2[ch] / a->m), (float)(-k * a->s1[ch] / a->m),
              a->mean[ch], 1, a->n, a->c, a->hw, ch);
  }
}
const struct nn_k_bnorm nn_cpu_bnorm = {.fwd = k_fwd, .bwd = k_bwd, .sums = k_sums, .bwd_dx = k_bwd_dx};
