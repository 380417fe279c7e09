/* CPU kernels of the rope ops. */
#include "../ops/rope.h"
#include <math.h>

#define ROPE_PAR_WORK 32768 /* elements below which a kernel stays single-threaded */

static void rope_tables(float *cs, float *sn, int64_t T, int64_t half, int64_t pos0, float base) {
#pragma omp parallel for schedule(static) if (T * half > ROPE_PAR_WORK)
  for (int64_t t = 0; t < T; t++)
    for (int64_t i = 0; i < half; i++) {
      double th = (double)(pos0 + t) * pow((double)base, -(double)i / (double)half);
      cs[t * half + i] = (float)cos(th);
      sn[t * half + i] = (float)sin(th);
    }
}

/* one head: o1, o2 (half) [+]= x1, x2 rotated by the angles with cos c, sin sign*s */
static inline void rope_head(float *o1, float *o2, const float *x1, const float *x2, const float *c, const float *s,
                             int64_t half, float sign, int accumulate) {
#pragma omp simd
  for (int64_t i = 0; i < half; i++) {
    float a = x1[i], b = x2[i], si = sign * s[i];
    float r1 = a * c[i] - b * si, r2 = b * c[i] + a * si;
    o1[i] = accumulate ? o1[i] + r1 : r1;
    o2[i] = accumulate ? o2[i] + r2 : r2;
  }
}

static void rope_rotate(float *out, const float *x, const float *cs, const float *sn, int64_t B, int64_t T,
                        int64_t H, int64_t half, float sign, int accumulate) {
  int64_t C = H * 2 * half;
#pragma omp parallel for schedule(static) if (B * T * C > ROPE_PAR_WORK)
  for (int64_t bt = 0; bt < B * T; bt++) {
    const float *c = cs + (bt % T) * half, *s = sn + (bt % T) * half;
    for (int64_t h = 0; h < H; h++) {
      int64_t o = bt * C + h * 2 * half;
      if (accumulate)
        rope_head(out + o, out + o + half, x + o, x + o + half, c, s, half, sign, 1);
      else
        rope_head(out + o, out + o + half, x + o, x + o + half, c, s, half, sign, 0);
    }
  }
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_tables(const struct nn_backend *be, const struct nn_rope_args *a) {
  (void)be;
  rope_tables(a->cos, a->sin, a->T, a->half, a->pos0, a->base);
}
static void k_rotate(const struct nn_backend *be, const struct nn_rope_args *a) {
  (void)be;
  rope_rotate(a->out, a->x, a->cos, a->sin, a->B, a->T, a->H, a->half, a->sign, a->accumulate);
}
const struct nn_k_rope nn_cpu_rope = {.tables = k_tables, .rotate = k_rotate};
