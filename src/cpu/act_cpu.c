/* CPU kernels of the activation ops. */
#include "../ops/act.h"
#include <math.h>

#define ACT_PAR 8192   /* elements above which the loops run on several threads */
#define ACT_CHUNK 2048 /* elements per parallel work item */
#define GELU_K 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_C 0.044715f
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* f(x) */
static inline float act_f(enum nn_act f, float x) {
  switch (f) {
    case NN_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case NN_ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_C * x * x * x)));
    case NN_ACT_GELU_ERF: return 0.5f * x * (1.0f + erff(x * INV_SQRT2));
    case NN_ACT_SILU: return x * sigmoidf(x);
    case NN_ACT_SIGMOID: return sigmoidf(x);
    default: return tanhf(x);
  }
}

/* f'(x), given y = f(x) */
static inline float act_d(enum nn_act f, float x, float y) {
  switch (f) {
    case NN_ACT_RELU: return y > 0.0f ? 1.0f : 0.0f;
    case NN_ACT_GELU_TANH: {
      float t = tanhf(GELU_K * (x + GELU_C * x * x * x));
      return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
    }
    case NN_ACT_GELU_ERF: return 0.5f * (1.0f + erff(x * INV_SQRT2)) + x * expf(-0.5f * x * x) * INV_SQRT_2PI;
    case NN_ACT_SILU: {
      float s = sigmoidf(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case NN_ACT_SIGMOID: return y * (1.0f - y);
    default: return 1.0f - y * y;
  }
}

/* The loops over one chunk, instantiated per activation (f is a constant after inlining). */
static inline __attribute__((always_inline)) void act_fwd_f(float *y, const float *x, int64_t n, enum nn_act f) {
  for (int64_t i = 0; i < n; i++) y[i] = act_f(f, x[i]);
}

static inline __attribute__((always_inline)) void act_bwd_f(float *dx, const float *dy, const float *x,
                                                            const float *y, int64_t n, enum nn_act f) {
  for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * act_d(f, x[i], y[i]);
}

/* y(n) = f(x(n)) */
static void act_forward(float *y, const float *x, int64_t n, enum nn_act f) {
  int64_t nc = (n + ACT_CHUNK - 1) / ACT_CHUNK;
#pragma omp parallel for schedule(static) if (n > ACT_PAR)
  for (int64_t c = 0; c < nc; c++) {
    int64_t o = c * ACT_CHUNK, w = n - o < ACT_CHUNK ? n - o : ACT_CHUNK;
    switch (f) {
      case NN_ACT_RELU: act_fwd_f(y + o, x + o, w, NN_ACT_RELU); break;
      case NN_ACT_GELU_TANH: act_fwd_f(y + o, x + o, w, NN_ACT_GELU_TANH); break;
      case NN_ACT_GELU_ERF: act_fwd_f(y + o, x + o, w, NN_ACT_GELU_ERF); break;
      case NN_ACT_SILU: act_fwd_f(y + o, x + o, w, NN_ACT_SILU); break;
      case NN_ACT_SIGMOID: act_fwd_f(y + o, x + o, w, NN_ACT_SIGMOID); break;
      default: act_fwd_f(y + o, x + o, w, NN_ACT_TANH); break;
    }
  }
}

/* dx(n) += dy(n) * f'(x(n)) */
static void act_backward(float *dx, const float *dy, const float *x, const float *y, int64_t n, enum nn_act f) {
  int64_t nc = (n + ACT_CHUNK - 1) / ACT_CHUNK;
#pragma omp parallel for schedule(static) if (n > ACT_PAR)
  for (int64_t c = 0; c < nc; c++) {
    int64_t o = c * ACT_CHUNK, w = n - o < ACT_CHUNK ? n - o : ACT_CHUNK;
    switch (f) {
      case NN_ACT_RELU: act_bwd_f(dx + o, dy + o, x + o, y + o, w, NN_ACT_RELU); break;
      case NN_ACT_GELU_TANH: act_bwd_f(dx + o, dy + o, x + o, y + o, w, NN_ACT_GELU_TANH); break;
      case NN_ACT_GELU_ERF: act_bwd_f(dx + o, dy + o, x + o, y + o, w, NN_ACT_GELU_ERF); break;
      case NN_ACT_SILU: act_bwd_f(dx + o, dy + o, x + o, y + o, w, NN_ACT_SILU); break;
      case NN_ACT_SIGMOID: act_bwd_f(dx + o, dy + o, x + o, y + o, w, NN_ACT_SIGMOID); break;
      default: act_bwd_f(dx + o, dy + o, x + o, y + o, w, NN_ACT_TANH); break;
    }
  }
}

const struct nn_k_act nn_cpu_act = {.forward = act_forward, .backward = act_backward};
