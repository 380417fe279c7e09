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
extern const struct nn_k_rnn_seq nn_cpu_rnn_seq;
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

#define GEMM_PAR_FLOPS 4e6 /* products below this many flops run on one thread */
#define GEMM_SLAB 16        /* slabs of c are multiples of this many rows or columns */

/* c(m,n) = alpha * op(a) op(b) + beta * c with one single-threaded OpenBLAS call */
static void blas_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                       const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* c(m,n) = alpha * op(a) op(b) + beta * c, row-major with leading dimensions. OpenBLAS stays at one
 * thread (its own threads would compete with OpenMP's for the cores): outside a parallel region a
 * large product is split over the OpenMP threads into slabs of c's rows (or columns, when c is
 * wider than tall), one OpenBLAS call each; the split depends only on the thread count. */
void nn_cpu_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  int rows = m >= n;
  int64_t len = rows ? m : n, per = ((len + nt - 1) / nt + GEMM_SLAB - 1) / GEMM_SLAB * GEMM_SLAB;
  if (nt < 2 || 2.0 * (double)m * (double)n * (double)k < GEMM_PAR_FLOPS || per >= len) {
    blas_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int t = 0; t < nt; t++) {
    int64_t lo = t * per, w = len - lo < per ? len - lo : per;
    if (w <= 0) continue;
    if (rows) /* rows [lo, lo+w) of c: the same rows of op(a) */
      blas_sgemm(ta, tb, w, n, k, alpha, ta ? a + lo : a + lo * lda, lda, b, ldb, beta, c + lo * ldc, ldc);
    else /* columns [lo, lo+w) of c: the same columns of op(b) */
      blas_sgemm(ta, tb, m, w, k, alpha, a, lda, tb ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc);
  }
}

static void cpu_gemm(float *c, const float *a, const float *b, int ta, int tb, int64_t m, int64_t n,
                     int64_t k, float alpha, float beta, int64_t batch, int64_t sa, int64_t sb,
                     int64_t sc) {
  int64_t lda = ta ? m : k, ldb = tb ? k : n;
  if (batch > 1 && batch >= omp_get_max_threads() && !omp_in_parallel()) { /* matrices over the threads */
#pragma omp parallel for schedule(static) if (2.0 * (double)batch * m * n * k > GEMM_PAR_FLOPS)
    for (int64_t i = 0; i < batch; i++)
      blas_sgemm(ta, tb, m, n, k, alpha, a + i * sa, lda, b + i * sb, ldb, beta, c + i * sc, n);
    return;
  }
  for (int64_t i = 0; i < batch; i++) nn_cpu_sgemm(ta, tb, m, n, k, alpha, a + i * sa, lda, b + i * sb, ldb, beta, c + i * sc, n);
}

/* OpenBLAS at one thread from the start, also in programs that never call set_threads */
__attribute__((constructor)) static void cpu_blas_single(void) { openblas_set_num_threads(1); }

static void cpu_set_threads(int n) {
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  openblas_set_num_threads(1); /* nn_cpu_sgemm spreads products over the OpenMP threads */
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
    .rnn_seq = &nn_cpu_rnn_seq,
    .optim = &nn_cpu_optim,
};
