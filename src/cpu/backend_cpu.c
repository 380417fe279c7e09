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

static void *cpu_alloc(const struct nn_backend *be, size_t bytes) {
  (void)be;
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes ? bytes : 64)) return NULL;
  return p;
}
static void cpu_free(const struct nn_backend *be, void *p) { (void)be; free(p); }
static void cpu_copy(const struct nn_backend *be, void *dst, const void *src, size_t bytes) {
  (void)be;
  if (bytes) memmove(dst, src, bytes);
}
static void cpu_sync(const struct nn_backend *be) { (void)be; }

static void cpu_fill(const struct nn_backend *be, float *x, float v, int64_t n) {
  (void)be;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) x[i] = v;
}

static void cpu_axpy(const struct nn_backend *be, float *y, float a, const float *x, int64_t n) {
  (void)be;
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

static void cpu_divide(const struct nn_backend *be, float *x, float d, int64_t n) {
  (void)be;
#pragma omp parallel for simd schedule(static) if (n > (1 << 18))
  for (int64_t i = 0; i < n; i++) x[i] /= d;
}

static void cpu_gemm(const struct nn_backend *be, const struct nn_gemm_args *g) {
  (void)be;
  float *c = g->c;
  const float *a = g->a, *b = g->b;
  int ta = g->ta, tb = g->tb;
  int64_t m = g->m, n = g->n, k = g->k, batch = g->batch, sa = g->sa, sb = g->sb, sc = g->sc;
  float alpha = g->alpha, beta = g->beta;
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

/* The CPU context is the thread count: OpenMP's is per calling thread, so an instance applies its
 * own when opened and whenever a graph over it starts a step (nn_graph_init / nn_graph_reset). */
static void cpu_use(const struct nn_backend *be) {
  if (be->threads > 0 && omp_get_max_threads() != be->threads) omp_set_num_threads(be->threads);
}

static nn_status cpu_open(struct nn_backend *be, int index, int threads) {
  (void)index;
  be->threads = threads;
  be->ctx = NULL;
  openblas_set_num_threads(1); /* nn_cpu_sgemm spreads products over the OpenMP threads */
  return NN_OK;
}

const struct nn_kernels nn_cpu_kernels = {
    .name = "cpu",
    .host_memory = 1,
    .open = cpu_open,
    .close = NULL,
    .use = cpu_use,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .to_device = cpu_copy,
    .to_host = cpu_copy,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .fill = cpu_fill,
    .axpy = cpu_axpy,
    .divide = cpu_divide,
    .gemm = cpu_gemm,
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

/* A CPU instance with OpenMP's default thread count, for tests and tools that need no options. */
struct nn_backend nn_cpu_backend = {.k = &nn_cpu_kernels, .device = "cpu"};
