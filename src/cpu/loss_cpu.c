/* CPU kernels of the loss ops. */
#include "cpu_math.h"
#include "../ops/loss.h"
#include <omp.h>

/* vectorised exp row helpers, defined in softmax_cpu.c */
float nn_cpu_logsumexp(const float *x, int64_t n);

#define LOSS_PAR_WORK 32768 /* elements below which a kernel stays single-threaded */

/* target of row r, asserted to be ignore or in [0,C) */
static inline int64_t ce_target(const void *targets, int i64, int64_t r, int64_t C, int64_t ignore) {
  int64_t t = i64 ? ((const int64_t *)targets)[r] : ((const int32_t *)targets)[r];
  NN_ASSERT(t == ignore || (t >= 0 && t < C), "cross_entropy: target %lld of row %lld is out of range [0,%lld) "
            "and is not ignore_index %lld", (long long)t, (long long)r, (long long)C, (long long)ignore);
  return t;
}

static void ce_forward(float *loss, float *stats, const float *x, const void *targets, int i64, int64_t rows,
                       int64_t C, int64_t ignore) {
  double sum = 0.0;
  int64_t count = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum, count) if (rows * C > LOSS_PAR_WORK)
  for (int64_t r = 0; r < rows; r++) {
    int64_t t = ce_target(targets, i64, r, C, ignore);
    float lse = nn_cpu_logsumexp(x + r * C, C);
    stats[r] = lse;
    if (t != ignore) {
      sum += (double)lse - x[r * C + t];
      count++;
    }
  }
  stats[rows] = (float)count;
  loss[0] = count ? (float)(sum / (double)count) : 0.0f;
}

static void ce_backward(float *dx, const float *dloss, const float *x, const float *stats, const void *targets,
                        int i64, int64_t rows, int64_t C, int64_t ignore) {
  float count = stats[rows];
  if (count == 0.0f) return;
  float w = dloss[0] / count;
#pragma omp parallel for schedule(static) if (rows * C > LOSS_PAR_WORK)
  for (int64_t r = 0; r < rows; r++) {
    int64_t t = ce_target(targets, i64, r, C, ignore);
    if (t == ignore) continue;
    nn_cpu_exp_axpy(dx + r * C, w, x + r * C, stats[r], C);
    dx[r * C + t] -= w;
  }
}


/* the kernel table: adapters from the argument struct to the kernels above */
static void k_forward(const struct nn_backend *be, const struct nn_ce_args *a) {
  (void)be;
  ce_forward(a->loss, a->stats, a->x, a->targets, a->i64, a->rows, a->C, a->ignore);
}
static void k_backward(const struct nn_backend *be, const struct nn_ce_args *a) {
  (void)be;
  ce_backward(a->dx, a->dloss, a->x, a->stats, a->targets, a->i64, a->rows, a->C, a->ignore);
}
const struct nn_k_loss nn_cpu_loss = {.ce_forward = k_forward, .ce_backward = k_backward};
