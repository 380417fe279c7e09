/* The CPU backend: host memory, cblas_sgemm, OpenMP loops. */
#include "../nn_backend.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

extern const struct nn_k_matmul nn_cpu_matmul;
extern const struct nn_k_binary nn_cpu_binary;
extern const struct nn_k_act nn_cpu_act;
extern const struct nn_k_softmax nn_cpu_softmax;
extern const struct nn_k_loss nn_cpu_loss;
extern const struct nn_k_layernorm nn_cpu_layernorm;
extern const struct nn_k_embed nn_cpu_embed;
extern const struct nn_k_dropout nn_cpu_dropout;
extern const struct nn_k_conv nn_cpu_conv;
extern const struct nn_k_pool nn_cpu_pool;
extern const struct nn_k_bnorm nn_cpu_bnorm;
extern const struct nn_k_shape nn_cpu_shape;
extern const struct nn_k_reduce nn_cpu_reduce;
extern const struct nn_k_attn nn_cpu_attn;
extern const struct nn_k_rope nn_cpu_rope;
extern const struct nn_k_rnn nn_cpu_rnn;
extern const struct nn_k_optim nn_cpu_optim;
extern void openblas_set_num_threads(int);

static void *cpu_alloc(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes ? bytes : 64)) return NULL;
  return p;
}
static void cpu_free(void *p) { free(p); }
static void cpu_copy(void *dst, const void *src, size_t bytes) {
  if (bytes) memmove(dst, src, bytes);
}
static void cpu_sync(void) {}

static void cpu_fill(float *x, float v, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) x[i] = v;
}

static void cpu_axpy(float *y, float a, const float *x, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void cpu_gemm(float *c, const float *a, const float *b, int ta, int tb, int64_t m, int64_t n,
                     int64_t k, float alpha, float beta, int64_t batch, int64_t sa, int64_t sb,
                     int64_t sc) {
  int lda = (int)(ta ? m : k), ldb = (int)(tb ? k : n);
  for (int64_t i = 0; i < batch; i++)
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a + i * sa, lda, b + i * sb, ldb, beta, c + i * sc,
                (int)n);
}

static void cpu_set_threads(int n) {
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

const struct nn_backend nn_cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .to_device = cpu_copy,
    .to_host = cpu_copy,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .fill = cpu_fill,
    .axpy = cpu_axpy,
    .gemm = cpu_gemm,
    .set_threads = cpu_set_threads,
    .matmul = &nn_cpu_matmul,
    .binary = &nn_cpu_binary,
    .act = &nn_cpu_act,
    .softmax = &nn_cpu_softmax,
    .loss = &nn_cpu_loss,
    .layernorm = &nn_cpu_layernorm,
    .embed = &nn_cpu_embed,
    .dropout = &nn_cpu_dropout,
    .conv = &nn_cpu_conv,
    .pool = &nn_cpu_pool,
    .bnorm = &nn_cpu_bnorm,
    .shape = &nn_cpu_shape,
    .reduce = &nn_cpu_reduce,
    .attn = &nn_cpu_attn,
    .rope = &nn_cpu_rope,
    .rnn = &nn_cpu_rnn,
    .optim = &nn_cpu_optim,
};
