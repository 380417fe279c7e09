/* cu_common: what every CUDA kernel file of the backend shares (not a public header): the
 * process's context, error checks, launch geometry, Philox, block reductions and the gemm. */
#ifndef CU_COMMON_CUH
#define CU_COMMON_CUH
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <stdint.h>
extern "C" {
#include "nn_cuda.h"
}

/* cuBLAS is loaded with dlopen when the first CUDA instance opens: linking it would cost every
 * program, CPU runs included, about 2.5 s and 200 MB of start-up (relocating libcublasLt). Every
 * cuBLAS call goes through this table (types checked against cublas_v2.h). */
struct cu_blas_api {
  decltype(&cublasCreate_v2) Create;
  decltype(&cublasDestroy_v2) Destroy;
  decltype(&cublasSetStream_v2) SetStream;
  decltype(&cublasSetWorkspace_v2) SetWorkspace;
  decltype(&cublasSetMathMode) SetMathMode;
  decltype(&cublasGetStatusString) GetStatusString;
  /* the cublasComputeType_t overload (C++ also sees a cudaDataType one) */
  cublasStatus_t (*GemmStridedBatchedEx)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                         const void *, const void *, cudaDataType, int, long long, const void *,
                                         cudaDataType, int, long long, const void *, void *, cudaDataType, int,
                                         long long, int, cublasComputeType_t, cublasGemmAlgo_t);
  decltype(&cublasSgeam) Sgeam;
};
extern struct cu_blas_api cu_blas;

/* The context of one CUDA backend instance (be->ctx). */
struct cu_ctx {
  int device;              /* -1 before nn_cuda_init */
  cudaStream_t stream;
  cublasHandle_t blas;
  int precision;           /* enum nn_precision */
  void *blas_ws;           /* fixed cuBLAS workspace (no allocation inside cuBLAS after init) */
  size_t blas_ws_bytes;
  void *scratch;           /* grow-only scratch for kernels whose interface has no workspace */
  size_t scratch_bytes;
  long long *flag;         /* device: error position reported by a kernel (LLONG_MAX = none) */
  long long *hflag;        /* pinned host copy */
  double *hred;            /* pinned host double for reductions returned to the host */
  int64_t mallocs, frees;
};
/* the context of instance be */
static inline struct cu_ctx *cu_of(const struct nn_backend *be) { return (struct cu_ctx *)be->ctx; }

/* Print the failing call with file:line, the device and CUDA's message, then abort (device
 * failures inside a kernel-table call have no status to return, like NN_ASSERT). */
void cu_fail(const char *file, int line, const char *call, const char *msg) __attribute__((noreturn));
/* the device reported in cu_fail's message (set by the last instance opened or used) */
extern int cu_fail_device;
#define CU_CHECK(x)                                                                \
  do {                                                                             \
    cudaError_t cu_e_ = (x);                                                       \
    if (cu_e_ != cudaSuccess) cu_fail(__FILE__, __LINE__, #x, cudaGetErrorString(cu_e_)); \
  } while (0)
#define CUBLAS_CHECK(x)                                                            \
  do {                                                                             \
    cublasStatus_t cu_s_ = (x);                                                    \
    if (cu_s_ != CUBLAS_STATUS_SUCCESS) cu_fail(__FILE__, __LINE__, #x, cu_blas.GetStatusString(cu_s_)); \
  } while (0)
/* after a launch: configuration errors show up here */
#define CU_LAUNCHED() CU_CHECK(cudaGetLastError())

/* Scratch of at least bytes on the device (grows with cudaMalloc only when a larger request comes:
 * in a repeated step that is the first step only). */
void *cu_scratch(struct cu_ctx *cx, size_t bytes);
/* Reset the device error flag (before a checking kernel) / read it (synchronises the stream). */
void cu_flag_reset(struct cu_ctx *cx);
long long cu_flag_read(struct cu_ctx *cx);

#define CU_THREADS 256
/* blocks for n elements at CU_THREADS, capped (kernels loop with CU_FOR) */
static inline unsigned cu_blocks(int64_t n) {
  int64_t b = (n + CU_THREADS - 1) / CU_THREADS;
  if (b > 65536) b = 65536;
  return b < 1 ? 1u : (unsigned)b;
}
#define CU_FOR(i, n)                                                                        \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (int64_t)(n);        \
       i += (int64_t)gridDim.x * blockDim.x)
/* launch kernel over n elements on the stream of context cx (in scope; nothing when n == 0) */
#define CU_LAUNCH_N(n, kernel, ...)                                                         \
  do {                                                                                      \
    if ((n) > 0) {                                                                          \
      kernel<<<cu_blocks(n), CU_THREADS, 0, cx->stream>>>(__VA_ARGS__);                     \
      CU_LAUNCHED();                                                                        \
    }                                                                                       \
  } while (0)

/* Philox4x32-10, word 0, as nn_rng_u32 (src/nn_rng.c): the same (seed, stream, step, index)
 * gives the same bits on the GPU and the CPU. */
__host__ __device__ __forceinline__ uint32_t cu_mulhi(uint32_t a, uint32_t b) {
#ifdef __CUDA_ARCH__
  return __umulhi(a, b);
#else
  return (uint32_t)(((uint64_t)a * b) >> 32);
#endif
}
/* host and device: the host instantiation is what tests/gpu/test_cuda_philox.cu checks on any machine */
__host__ __device__ __forceinline__ uint32_t cu_rng_u32(uint64_t seed, uint32_t stream, uint64_t step,
                                                        uint64_t index) {
  uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32), c2 = (uint32_t)step;
  uint32_t c3 = stream ^ ((uint32_t)(step >> 32) << 20);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
  for (int r = 0; r < 10; r++) {
    uint32_t hi0 = cu_mulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    uint32_t hi1 = cu_mulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c1 = lo1;
    c3 = lo0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c0;
}
/* uniform in [0,1) as nn_rng_uniform (exactly: 24 bits times 2^-24) */
__host__ __device__ __forceinline__ float cu_rng_uniform(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index) {
  return (float)(cu_rng_u32(seed, stream, step, index) >> 8) * (1.0f / 16777216.0f);
}

/* Sum of v over the block (blockDim.x a multiple of 32, at most 1024), in a fixed order (the
 * result does not depend on timing); every thread gets it. sh: 32 doubles of shared memory. */
__device__ __forceinline__ double cu_block_sum(double v, double *sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  if (w == 0) {
    v = lane < nw ? sh[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if (lane == 0) sh[0] = v;
  }
  __syncthreads();
  return sh[0];
}
__device__ __forceinline__ float cu_block_max(float v, float *sh) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  if (w == 0) {
    v = lane < nw ? sh[lane] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    if (lane == 0) sh[0] = v;
  }
  __syncthreads();
  return sh[0];
}

/* c[i](m,n) = alpha * op(a[i]) op(b[i]) + beta * c[i], row-major with leading dimensions and
 * element strides between the batch matrices, through cuBLAS (column-major: computes c^T). */
void cu_gemm(struct cu_ctx *cx, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, int64_t sa,
             const float *b, int64_t ldb, int64_t sb, float beta, float *c, int64_t ldc, int64_t sc, int64_t batch);

/* out(outer,inner) [+]= alpha * sum over k < n of x(outer,n,inner) [* y(outer,n,inner)], in double,
 * in a fixed order (deterministic). */
void cu_sum_mid(struct cu_ctx *cx, float *out, const float *x, const float *y, int64_t outer, int64_t n, int64_t inner, float alpha,
                int accumulate);

#endif
