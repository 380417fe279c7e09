/* CPU kernels of the activation ops. */
#include "cpu_math.h"
#include "../ops/act.h"
#include <math.h>
#include <string.h>

#define ACT_PAR 8192   /* elements above which the loops run on several threads */
#define ACT_CHUNK 2048 /* elements per parallel work item */
#define GELU_K 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_C 0.044715f
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

/* Branch-free float approximations (a few ulp) that the compiler vectorises, unlike libm calls. */

/* 1 / (1 + exp(-x)) */
static inline float act_sigmoid(float x) { return 1.0f / (1.0f + nn_cpu_expf(-x)); }

/* tanh(x): cephes odd polynomial for |x| < 0.625, 1 - 2 / (exp(2|x|) + 1) with x's sign beyond */
static inline float act_tanh(float x) {
  float a = fabsf(x), z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float small = p * z * x + x, big = copysignf(1.0f - 2.0f / (nn_cpu_expf(2.0f * a) + 1.0f), x);
  return a < 0.625f ? small : big;
}

/* 1 + erf(z) = erfc(-z), from the Numerical Recipes erfc fit (fractional error < 1.2e-7) */
static inline float act_one_plus_erf(float z) {
  float a = fabsf(z), t = 1.0f / (1.0f + 0.5f * a);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  float erfc_a = t * nn_cpu_expf(-a * a - 1.26551223f + t * p);
  return z >= 0.0f ? 2.0f - erfc_a : erfc_a;
}

/* sigmoid(2 u) for the tanh-form gelu, u = sqrt(2/pi) (x + 0.044715 x^3): 0.5 (1 + tanh(u)) */
static inline float gelu_s(float x) { return act_sigmoid(2.0f * GELU_K * (x + GELU_C * x * x * x)); }

/* f(x) */
static inline float act_f(enum nn_op f, float x) {
  switch (f) {
    case NN_OP_RELU: return x > 0.0f ? x : 0.0f;
    case NN_OP_GELU_TANH: return x * gelu_s(x);
    case NN_OP_GELU_ERF: return 0.5f * x * act_one_plus_erf(x * INV_SQRT2);
    case NN_OP_SILU: return x * act_sigmoid(x);
    case NN_OP_SIGMOID: return act_sigmoid(x);
    default: return act_tanh(x);
  }
}

/* f'(x), given y = f(x) */
static inline float act_d(enum nn_op f, float x, float y) {
  switch (f) {
    case NN_OP_RELU: return y > 0.0f ? 1.0f : 0.0f;
    case NN_OP_GELU_TANH: { /* 0.5 (1 + t) + 0.5 x (1 - t^2) u', with 0.5 (1 + t) = s */
      float s = gelu_s(x);
      return s + 2.0f * x * s * (1.0f - s) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
    }
    case NN_OP_GELU_ERF: /* Phi(x) + x phi(x), with Phi(x) = y / x recovered from the output (0.5 at 0) */
      return (x != 0.0f ? y / x : 0.5f) + x * nn_cpu_expf(-0.5f * x * x) * INV_SQRT_2PI;
    case NN_OP_SILU: {
      float s = act_sigmoid(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case NN_OP_SIGMOID: return y * (1.0f - y);
    default: return 1.0f - y * y;
  }
}

/* The loops over one chunk, instantiated per activation (f is a constant after inlining). */
static inline __attribute__((always_inline)) void act_fwd_f(float *y, const float *x, int64_t n, enum nn_op f) {
  for (int64_t i = 0; i < n; i++) y[i] = act_f(f, x[i]);
}

static inline __attribute__((always_inline)) void act_bwd_f(float *dx, const float *dy, const float *x,
                                                            const float *y, int64_t n, enum nn_op f) {
  for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * act_d(f, x[i], y[i]);
}

/* y(n) = f(x(n)) */
static void act_forward(float *y, const float *x, int64_t n, enum nn_op f) {
  int64_t nc = (n + ACT_CHUNK - 1) / ACT_CHUNK;
#pragma omp parallel for schedule(static) if (n > ACT_PAR)
  for (int64_t c = 0; c < nc; c++) {
    int64_t o = c * ACT_CHUNK, w = n - o < ACT_CHUNK ? n - o : ACT_CHUNK;
    switch (f) {
      case NN_OP_RELU: act_fwd_f(y + o, x + o, w, NN_OP_RELU); break;
      case NN_OP_GELU_TANH: act_fwd_f(y + o, x + o, w, NN_OP_GELU_TANH); break;
      case NN_OP_GELU_ERF: act_fwd_f(y + o, x + o, w, NN_OP_GELU_ERF); break;
      case NN_OP_SILU: act_fwd_f(y + o, x + o, w, NN_OP_SILU); break;
      case NN_OP_SIGMOID: act_fwd_f(y + o, x + o, w, NN_OP_SIGMOID); break;
      default: act_fwd_f(y + o, x + o, w, NN_OP_TANH); break;
    }
  }
}

/* dx(n) += dy(n) * f'(x(n)) */
static void act_backward(float *dx, const float *dy, const float *x, const float *y, int64_t n, enum nn_op f) {
  int64_t nc = (n + ACT_CHUNK - 1) / ACT_CHUNK;
#pragma omp parallel for schedule(static) if (n > ACT_PAR)
  for (int64_t c = 0; c < nc; c++) {
    int64_t o = c * ACT_CHUNK, w = n - o < ACT_CHUNK ? n - o : ACT_CHUNK;
    switch (f) {
      case NN_OP_RELU: act_bwd_f(dx + o, dy + o, x + o, y + o, w, NN_OP_RELU); break;
      case NN_OP_GELU_TANH: act_bwd_f(dx + o, dy + o, x + o, y + o, w, NN_OP_GELU_TANH); break;
      case NN_OP_GELU_ERF: act_bwd_f(dx + o, dy + o, x + o, y + o, w, NN_OP_GELU_ERF); break;
      case NN_OP_SILU: act_bwd_f(dx + o, dy + o, x + o, y + o, w, NN_OP_SILU); break;
      case NN_OP_SIGMOID: act_bwd_f(dx + o, dy + o, x + o, y + o, w, NN_OP_SIGMOID); break;
      default: act_bwd_f(dx + o, dy + o, x + o, y + o, w, NN_OP_TANH); break;
    }
  }
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_forward(const struct nn_backend *be, const struct nn_act_args *a) { (void)be; act_forward(a->y, a->x, a->n, a->f); }
static void k_backward(const struct nn_backend *be, const struct nn_act_args *a) {
  (void)be;
  act_backward(a->dx, a->dy, a->x, a->y, a->n, a->f);
}
const struct nn_k_act nn_cpu_act = {.forward = k_forward, .backward = k_backward};
