/* The CUDA backend's context (device, stream, cuBLAS), memory functions, gemm and the shared
 * deterministic reductions. Compiled, never run on a GPU. */
#include "cu_common.cuh"
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

struct cu_ctx nn_cu = {-1};

#define CU_BLAS_WS (32u << 20) /* cuBLAS workspace (Hopper wants 32 MiB) */

void cu_fail(const char *file, int line, const char *call, const char *msg) {
  fprintf(stderr, "%s:%d: CUDA failure on device %d in %s: %s\n", file, line, nn_cu.device, call, msg);
  abort();
}

extern "C" int nn_cuda_device_count(char *why, size_t n) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    if (why && n) snprintf(why, n, "%s", e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device visible");
    cudaGetLastError(); /* clear */
    return 0;
  }
  return count;
}

/* NN_ERR_CUDA naming the device and the call */
#define INIT_TRY(x)                                                                                      \
  do {                                                                                                   \
    cudaError_t e_ = (x);                                                                                \
    if (e_ != cudaSuccess)                                                                               \
      return nn_fail(NN_ERR_CUDA, "CUDA backend on device %d: %s failed: %s", nn_cu.device, #x,          \
                     cudaGetErrorString(e_));                                                            \
  } while (0)

extern "C" nn_status nn_cuda_init(int local_rank, enum nn_precision prec) {
  char why[160];
  int count = nn_cuda_device_count(why, sizeof why);
  if (count == 0) return nn_fail(NN_ERR_CUDA, "--device cuda: no usable GPU (%s)", why);
  if (nn_cu.device >= 0) return NN_OK;
  nn_cu.device = local_rank % count;
  INIT_TRY(cudaSetDevice(nn_cu.device));
  INIT_TRY(cudaStreamCreateWithFlags(&nn_cu.stream, cudaStreamNonBlocking));
  cublasStatus_t s = cublasCreate(&nn_cu.blas);
  if (s != CUBLAS_STATUS_SUCCESS)
    return nn_fail(NN_ERR_CUDA, "CUDA backend on device %d: cublasCreate failed: %s", nn_cu.device,
                   cublasGetStatusString(s));
  CUBLAS_CHECK(cublasSetStream(nn_cu.blas, nn_cu.stream));
  INIT_TRY(cudaMalloc(&nn_cu.blas_ws, CU_BLAS_WS));
  nn_cu.blas_ws_bytes = CU_BLAS_WS;
  nn_cu.mallocs++;
  CUBLAS_CHECK(cublasSetWorkspace(nn_cu.blas, nn_cu.blas_ws, nn_cu.blas_ws_bytes));
  CUBLAS_CHECK(cublasSetMathMode(nn_cu.blas, CUBLAS_PEDANTIC_MATH)); /* fp32: no TF32 */
  INIT_TRY(cudaMalloc((void **)&nn_cu.flag, sizeof(long long)));
  nn_cu.mallocs++;
  INIT_TRY(cudaMallocHost((void **)&nn_cu.hflag, sizeof(long long)));
  INIT_TRY(cudaMallocHost((void **)&nn_cu.hred, sizeof(double)));
  nn_cu.precision = prec;
  return NN_OK;
}

extern "C" void nn_cuda_shutdown(void) {
  if (nn_cu.device < 0) return;
  cudaStreamSynchronize(nn_cu.stream);
  cublasDestroy(nn_cu.blas);
  cudaFree(nn_cu.blas_ws);
  cudaFree(nn_cu.scratch);
  cudaFree(nn_cu.flag);
  cudaFreeHost(nn_cu.hflag);
  cudaFreeHost(nn_cu.hred);
  cudaStreamDestroy(nn_cu.stream);
  memset(&nn_cu, 0, sizeof nn_cu);
  nn_cu.device = -1;
}

extern "C" int nn_cuda_device(void) { return nn_cu.device; }
extern "C" void *nn_cuda_stream(void) { return (void *)nn_cu.stream; }
extern "C" void nn_cuda_set_precision(enum nn_precision prec) { nn_cu.precision = prec; }

extern "C" nn_status nn_precision_parse(const char *s, enum nn_precision *out) {
  if (s && !strcmp(s, "fp32")) *out = NN_PREC_FP32;
  else if (s && !strcmp(s, "bf16")) *out = NN_PREC_BF16;
  else return nn_fail(NN_ERR_ARG, "--precision: '%s' is not fp32 or bf16", s ? s : "(null)");
  return NN_OK;
}

extern "C" void nn_cuda_get_stats(struct nn_cuda_stats *s) {
  s->device_mallocs = nn_cu.mallocs;
  s->device_frees = nn_cu.frees;
  s->scratch_bytes = nn_cu.scratch_bytes;
}

void *cu_scratch(size_t bytes) {
  if (bytes <= nn_cu.scratch_bytes) return nn_cu.scratch;
  size_t grow = bytes + bytes / 4;
  CU_CHECK(cudaStreamSynchronize(nn_cu.stream)); /* queued kernels may still use the old one */
  if (nn_cu.scratch) {
    CU_CHECK(cudaFree(nn_cu.scratch));
    nn_cu.frees++;
  }
  CU_CHECK(cudaMalloc(&nn_cu.scratch, grow));
  nn_cu.mallocs++;
  nn_cu.scratch_bytes = grow;
  return nn_cu.scratch;
}

__global__ void k_flag_reset(long long *f) { *f = LLONG_MAX; }
void cu_flag_reset(void) {
  k_flag_reset<<<1, 1, 0, nn_cu.stream>>>(nn_cu.flag);
  CU_LAUNCHED();
}
long long cu_flag_read(void) {
  CU_CHECK(cudaMemcpyAsync(nn_cu.hflag, nn_cu.flag, sizeof(long long), cudaMemcpyDeviceToHost, nn_cu.stream));
  CU_CHECK(cudaStreamSynchronize(nn_cu.stream));
  return *nn_cu.hflag;
}

/* ---- memory ---- */

static void *cu_alloc(size_t bytes) {
  void *p = NULL;
  if (cudaMalloc(&p, bytes ? bytes : 256) != cudaSuccess) {
    cudaGetLastError();
    return NULL;
  }
  nn_cu.mallocs++;
  return p;
}
static void cu_free(void *p) {
  if (!p) return;
  CU_CHECK(cudaStreamSynchronize(nn_cu.stream)); /* queued kernels may still read it */
  CU_CHECK(cudaFree(p));
  nn_cu.frees++;
}
/* host src may be reused as soon as this returns: wait for the copy */
static void cu_to_device(void *dst, const void *src, size_t bytes) {
  if (!bytes) return;
  CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, nn_cu.stream));
  CU_CHECK(cudaStreamSynchronize(nn_cu.stream));
}
static void cu_to_host(void *dst, const void *src, size_t bytes) {
  if (!bytes) return;
  CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, nn_cu.stream));
  CU_CHECK(cudaStreamSynchronize(nn_cu.stream));
}
static void cu_copy(void *dst, const void *src, size_t bytes) {
  if (!bytes || dst == src) return;
  CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, nn_cu.stream));
}
static void cu_sync(void) { CU_CHECK(cudaStreamSynchronize(nn_cu.stream)); }

__global__ void k_fill(float *x, float v, int64_t n) {
  CU_FOR(i, n) x[i] = v;
}
static void cu_fill(float *x, float v, int64_t n) { CU_LAUNCH_N(n, k_fill, x, v, n); }

__global__ void k_axpy(float *y, float a, const float *x, int64_t n) {
  CU_FOR(i, n) y[i] += a * x[i];
}
static void cu_axpy(float *y, float a, const float *x, int64_t n) { CU_LAUNCH_N(n, k_axpy, y, a, x, n); }

/* ---- gemm ---- */

void cu_gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, int64_t sa,
             const float *b, int64_t ldb, int64_t sb, float beta, float *c, int64_t ldc, int64_t sc, int64_t batch) {
  if (m <= 0 || n <= 0 || batch <= 0) return;
  if (k <= 0) { /* c = beta * c */
    for (int64_t i = 0; i < batch; i++)
      CUBLAS_CHECK(cublasSgeam(nn_cu.blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)m, &beta, c + i * sc, (int)ldc,
                               &beta, c + i * sc, (int)ldc, c + i * sc, (int)ldc));
    return;
  }
  /* row-major c = op(a) op(b) is column-major c^T = op(b)^T op(a)^T */
  cublasComputeType_t ct = nn_cu.precision == NN_PREC_BF16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F;
  CUBLAS_CHECK(cublasGemmStridedBatchedEx(nn_cu.blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                          (int)n, (int)m, (int)k, &alpha, b, CUDA_R_32F, (int)ldb, (long long)sb, a,
                                          CUDA_R_32F, (int)lda, (long long)sa, &beta, c, CUDA_R_32F, (int)ldc,
                                          (long long)sc, (int)batch, ct, CUBLAS_GEMM_DEFAULT));
}

static void cu_gemm_table(float *c, const float *a, const float *b, int ta, int tb, int64_t m, int64_t n, int64_t k,
                          float alpha, float beta, int64_t batch, int64_t sa, int64_t sb, int64_t sc) {
  cu_gemm(ta, tb, m, n, k, alpha, a, ta ? m : k, sa, b, tb ? k : n, sb, beta, c, n, sc, batch);
}

/* ---- deterministic reductions ---- */

#define SUM_TX 32
#define SUM_TY 8
/* inner > 1: block (32, 8) over 32 inner columns of one outer index; threads ty stride over n */
__global__ void k_sum_mid(float *out, const float *x, const float *y, int64_t outer, int64_t n, int64_t inner,
                          float alpha, int accumulate) {
  __shared__ double part[SUM_TY][SUM_TX];
  int64_t j = (int64_t)blockIdx.x * SUM_TX + threadIdx.x;
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    double acc = 0.0;
    if (j < inner)
      for (int64_t kk = threadIdx.y; kk < n; kk += SUM_TY) {
        int64_t at = (o * n + kk) * inner + j;
        acc += y ? (double)x[at] * (double)y[at] : (double)x[at];
      }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && j < inner) {
      double s = 0.0;
      for (int t = 0; t < SUM_TY; t++) s += part[t][threadIdx.x];
      float v = (float)(alpha * s);
      out[o * inner + j] = accumulate ? out[o * inner + j] + v : v;
    }
    __syncthreads();
  }
}
/* inner == 1: one block per row */
__global__ void k_sum_row(float *out, const float *x, const float *y, int64_t outer, int64_t n, float alpha,
                          int accumulate) {
  __shared__ double sh[32];
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    double acc = 0.0;
    for (int64_t kk = threadIdx.x; kk < n; kk += blockDim.x)
      acc += y ? (double)x[o * n + kk] * (double)y[o * n + kk] : (double)x[o * n + kk];
    acc = cu_block_sum(acc, sh);
    if (threadIdx.x == 0) {
      float v = (float)(alpha * acc);
      out[o] = accumulate ? out[o] + v : v;
    }
  }
}

void cu_sum_mid(float *out, const float *x, const float *y, int64_t outer, int64_t n, int64_t inner, float alpha,
                int accumulate) {
  if (outer <= 0 || inner <= 0) return;
  if (inner == 1) {
    k_sum_row<<<(unsigned)(outer < 65536 ? outer : 65536), CU_THREADS, 0, nn_cu.stream>>>(out, x, y, outer, n, alpha,
                                                                                      accumulate);
  } else {
    dim3 grid((unsigned)((inner + SUM_TX - 1) / SUM_TX), (unsigned)(outer < 65535 ? outer : 65535));
    k_sum_mid<<<grid, dim3(SUM_TX, SUM_TY), 0, nn_cu.stream>>>(out, x, y, outer, n, inner, alpha, accumulate);
  }
  CU_LAUNCHED();
}

static void cu_set_threads(int n) { (void)n; }

extern "C" {
extern const struct nn_k_matmul nn_cuda_matmul;
extern const struct nn_k_binary nn_cuda_binary;
extern const struct nn_k_act nn_cuda_act;
extern const struct nn_k_softmax nn_cuda_softmax;
extern const struct nn_k_loss nn_cuda_loss;
extern const struct nn_k_layernorm nn_cuda_layernorm;
extern const struct nn_k_embed nn_cuda_embed;
extern const struct nn_k_dropout nn_cuda_dropout;
extern const struct nn_k_conv nn_cuda_conv;
extern const struct nn_k_pool nn_cuda_pool;
extern const struct nn_k_bnorm nn_cuda_bnorm;
extern const struct nn_k_shape nn_cuda_shape;
extern const struct nn_k_reduce nn_cuda_reduce;
extern const struct nn_k_attn nn_cuda_attn;
extern const struct nn_k_rope nn_cuda_rope;
extern const struct nn_k_rnn nn_cuda_rnn;
extern const struct nn_k_optim nn_cuda_optim;

/* C++20 designated initializers: a member out of declaration order is a compile error */
const struct nn_backend nn_cuda_backend = {
    .name = "cuda",
    .alloc = cu_alloc,
    .free = cu_free,
    .to_device = cu_to_device,
    .to_host = cu_to_host,
    .copy = cu_copy,
    .sync = cu_sync,
    .fill = cu_fill,
    .axpy = cu_axpy,
    .gemm = cu_gemm_table,
    .set_threads = cu_set_threads,
    .matmul = &nn_cuda_matmul,
    .binary = &nn_cuda_binary,
    .act = &nn_cuda_act,
    .softmax = &nn_cuda_softmax,
    .loss = &nn_cuda_loss,
    .layernorm = &nn_cuda_layernorm,
    .embed = &nn_cuda_embed,
    .dropout = &nn_cuda_dropout,
    .conv = &nn_cuda_conv,
    .pool = &nn_cuda_pool,
    .bnorm = &nn_cuda_bnorm,
    .shape = &nn_cuda_shape,
    .reduce = &nn_cuda_reduce,
    .attn = &nn_cuda_attn,
    .rope = &nn_cuda_rope,
    .rnn = &nn_cuda_rnn,
    .optim = &nn_cuda_optim,
};
}
