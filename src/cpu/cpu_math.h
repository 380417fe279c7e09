/* cpu_math: float math shared by the CPU kernels, written so that loops over it vectorise. */
#ifndef NN_CPU_MATH_H
#define NN_CPU_MATH_H
#include <stdint.h>
#include <string.h>

/* exp(x) in float, about 1 ulp (Cody-Waite reduction + Cephes polynomial), branch-free;
 * 0 below -87 (so exp(-inf) = 0), finite above 88. */
static inline float nn_cpu_expf(float x) {
  float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round(x / ln 2) */
  float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = ((int32_t)n + 127) * (1 << 23); /* 2^n */
  float s;
  memcpy(&s, &e, sizeof s);
  return x < -87.0f ? 0.0f : p * s;
}

/* x(n) = exp(x(n) - max x); returns the sum (softmax_cpu.c). */
float nn_cpu_exp_row(float *x, int64_t n);
/* dx(n) += a * exp(x(n) - shift) (softmax_cpu.c). */
void nn_cpu_exp_axpy(float *dx, float a, const float *x, float shift, int64_t n);

#endif
