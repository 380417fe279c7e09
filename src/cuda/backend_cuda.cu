/* The CUDA backend type: instance contexts (device, stream, cuBLAS handle and workspace, scratch),
 * memory functions, gemm and the shared deterministic reductions; the kernel table. Compiled,
 * never run on a GPU. */
#include "cu_common.cuh"
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>

#define CU_BLAS_WS (32u << 20) /* cuBLAS workspace (Hopper wants 32 MiB) */

int cu_fail_device = -1;

void cu_fail(const char *file, int line, const char *call, const char *msg) {
  fprintf(stderr, "%s:%d: CUDA failure on device %d in %s: %s\n", file, line, cu_fail_device, call, msg);
  abort();
}

extern "C" int nn_cuda_device_count(char *why, size_t n) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    if (why && n) {
      if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice || e == cudaSuccess)
        snprintf(why, n, "no NVIDIA GPU or driver on this machine (CUDA runtime: %s)",
                 e == cudaSuccess ? "0 devices" : cudaGetErrorString(e));
      else
        snprintf(why, n, "%s", cudaGetErrorString(e));
    }
    cudaGetLastError(); /* clear */
    return 0;
  }
  return count;
}

struct cu_blas_api cu_blas;

#define CU_STR2(x) #x
#define CU_STR(x) CU_STR2(x)
#define CU_BLAS_SONAME "libcublas.so." CU_STR(CUBLAS_VER_MAJOR)

/* dlopen cuBLAS (by soname: LD_LIBRARY_PATH, the bundle, ld.so.cache; then the toolkit directory
 * CMake found) and fill cu_blas; NN_ERR_CUDA naming the library otherwise */
static nn_status cu_blas_load(const char *device) {
  static void *lib;
  if (lib) return NN_OK;
  void *h = dlopen(CU_BLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
  char first[256];
  snprintf(first, sizeof first, "%s", h ? "" : dlerror());
#ifdef ATTN_CUDA_LIBDIR
  if (!h) h = dlopen(ATTN_CUDA_LIBDIR "/" CU_BLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
#endif
  if (!h)
    return nn_fail(NN_ERR_CUDA, "--device %s: cannot load cuBLAS (%s): %s; put the CUDA toolkit's library directory on "
                   "LD_LIBRARY_PATH", device, CU_BLAS_SONAME, first);
  struct cu_blas_api a;
  int missing = 0;
#define CU_SYM(field, name) missing |= !(*(void **)&a.field = dlsym(h, #name))
  CU_SYM(Create, cublasCreate_v2);
  CU_SYM(Destroy, cublasDestroy_v2);
  CU_SYM(SetStream, cublasSetStream_v2);
  CU_SYM(SetWorkspace, cublasSetWorkspace_v2);
  CU_SYM(SetMathMode, cublasSetMathMode);
  CU_SYM(GetStatusString, cublasGetStatusString);
  CU_SYM(GemmStridedBatchedEx, cublasGemmStridedBatchedEx);
  CU_SYM(Sgeam, cublasSgeam);
#undef CU_SYM
  if (missing) {
    dlclose(h);
    return nn_fail(NN_ERR_CUDA, "--device %s: %s lacks a cuBLAS function this build uses (another CUDA major version?)",
                   device, CU_BLAS_SONAME);
  }
  cu_blas = a;
  lib = h; /* kept for the life of the process */
  return NN_OK;
}

static void cu_release(struct cu_ctx *cx) {
  if (cx->stream) cudaStreamSynchronize(cx->stream);
  if (cx->blas) cu_blas.Destroy(cx->blas);
  cudaFree(cx->blas_ws);
  cudaFree(cx->scratch);
  cudaFree(cx->flag);
  cudaFreeHost(cx->hflag);
  cudaFreeHost(cx->hred);
  if (cx->stream) cudaStreamDestroy(cx->stream);
  free(cx);
}

/* NN_ERR_CUDA naming the device and the call (after releasing what was set up) */
#define OPEN_TRY(x)                                                                                       \
  do {                                                                                                    \
    cudaError_t e_ = (x);                                                                                 \
    if (e_ != cudaSuccess) {                                                                              \
      nn_status s_ = nn_fail(NN_ERR_CUDA, "--device %s: %s failed: %s", be->device, #x, cudaGetErrorString(e_)); \
      cu_release(cx);                                                                                     \
      return s_;                                                                                          \
    }                                                                                                     \
  } while (0)
#define OPEN_BLAS(x)                                                                                      \
  do {                                                                                                    \
    cublasStatus_t s0_ = (x);                                                                             \
    if (s0_ != CUBLAS_STATUS_SUCCESS) {                                                                   \
      nn_status s_ = nn_fail(NN_ERR_CUDA, "--device %s: %s failed: %s", be->device, #x, cu_blas.GetStatusString(s0_)); \
      cu_release(cx);                                                                                     \
      return s_;                                                                                          \
    }                                                                                                     \
  } while (0)

/* instance on device index % devices (two ranks may share a GPU) */
static nn_status cu_open(struct nn_backend *be, int index, int threads) {
  NN_TRY(cu_blas_load(be->device)); /* first: so that a machine without a GPU checks the library too */
  char why[160];
  int count = nn_cuda_device_count(why, sizeof why);
  if (count == 0) return nn_fail(NN_ERR_CUDA, "--device %s: no usable GPU (%s)", be->device, why);
  struct cu_ctx *cx = (struct cu_ctx *)calloc(1, sizeof *cx);
  if (!cx) return nn_fail(NN_ERR_OOM, "--device %s: out of memory", be->device);
  cx->device = index % count;
  cu_fail_device = cx->device;
  OPEN_TRY(cudaSetDevice(cx->device));
  OPEN_TRY(cudaStreamCreateWithFlags(&cx->stream, cudaStreamNonBlocking));
  OPEN_BLAS(cu_blas.Create(&cx->blas));
  OPEN_BLAS(cu_blas.SetStream(cx->blas, cx->stream));
  OPEN_TRY(cudaMalloc(&cx->blas_ws, CU_BLAS_WS));
  cx->blas_ws_bytes = CU_BLAS_WS;
  OPEN_BLAS(cu_blas.SetWorkspace(cx->blas, cx->blas_ws, cx->blas_ws_bytes));
  OPEN_BLAS(cu_blas.SetMathMode(cx->blas, CUBLAS_PEDANTIC_MATH)); /* fp32 means fp32: no TF32 */
  OPEN_TRY(cudaMalloc((void **)&cx->flag, sizeof(long long)));
  OPEN_TRY(cudaMallocHost((void **)&cx->hflag, sizeof(long long)));
  OPEN_TRY(cudaMallocHost((void **)&cx->hred, sizeof(double)));
  cx->mallocs = 2;
  cx->precision = NN_PREC_FP32;
  be->ctx = cx;
  snprintf(be->device, sizeof be->device, "cuda:%d", cx->device);
  return NN_OK;
}
static void cu_close(struct nn_backend *be) {
  if (be->ctx) cu_release(cu_of(be));
  be->ctx = NULL;
}
/* the instance's device becomes the calling thread's current device */
static void cu_use(const struct nn_backend *be) {
  CU_CHECK(cudaSetDevice(cu_of(be)->device));
  cu_fail_device = cu_of(be)->device;
}

extern "C" int nn_cuda_device(const struct nn_backend *be) { return cu_of(be)->device; }
extern "C" void *nn_cuda_stream(const struct nn_backend *be) { return (void *)cu_of(be)->stream; }
extern "C" void nn_cuda_set_precision(struct nn_backend *be, enum nn_precision prec) {
  cu_of(be)->precision = prec;
  /* bf16: cuBLAS may use reduced-precision tensor-core paths for the products */
  CUBLAS_CHECK(cu_blas.SetMathMode(cu_of(be)->blas, prec == NN_PREC_BF16 ? CUBLAS_DEFAULT_MATH : CUBLAS_PEDANTIC_MATH));
}
extern "C" nn_status nn_precision_parse(const char *s, enum nn_precision *out) {
  if (s && !strcmp(s, "fp32")) *out = NN_PREC_FP32;
  else if (s && !strcmp(s, "bf16")) *out = NN_PREC_BF16;
  else return nn_fail(NN_ERR_ARG, "option --precision: '%s' is not fp32 or bf16", s ? s : "(null)");
  return NN_OK;
}
extern "C" void nn_cuda_get_stats(const struct nn_backend *be, struct nn_cuda_stats *s) {
  const struct cu_ctx *cx = cu_of(be);
  s->device_mallocs = cx->mallocs;
  s->device_frees = cx->frees;
  s->scratch_bytes = cx->scratch_bytes;
}

void *cu_scratch(struct cu_ctx *cx, size_t bytes) {
  if (bytes <= cx->scratch_bytes) return cx->scratch;
  size_t grow = bytes + bytes / 4;
  CU_CHECK(cudaStreamSynchronize(cx->stream)); /* queued kernels may still use the old one */
  if (cx->scratch) {
    CU_CHECK(cudaFree(cx->scratch));
    cx->frees++;
  }
  CU_CHECK(cudaMalloc(&cx->scratch, grow));
  cx->mallocs++;
  cx->scratch_bytes = grow;
  return cx->scratch;
}

__global__ void k_flag_reset(long long *f) { *f = LLONG_MAX; }
void cu_flag_reset(struct cu_ctx *cx) {
  k_flag_reset<<<1, 1, 0, cx->stream>>>(cx->flag);
  CU_LAUNCHED();
}
long long cu_flag_read(struct cu_ctx *cx) {
  CU_CHECK(cudaMemcpyAsync(cx->hflag, cx->flag, sizeof(long long), cudaMemcpyDeviceToHost, cx->stream));
  CU_CHECK(cudaStreamSynchronize(cx->stream));
  return *cx->hflag;
}

/* ---- memory ---- */

static void *cu_alloc(const struct nn_backend *be, size_t bytes) {
  void *p = NULL;
  if (cudaMalloc(&p, bytes ? bytes : 256) != cudaSuccess) {
    cudaGetLastError();
    return NULL;
  }
  cu_of(be)->mallocs++;
  return p;
}
static void cu_free(const struct nn_backend *be, void *p) {
  if (!p) return;
  CU_CHECK(cudaStreamSynchronize(cu_of(be)->stream)); /* queued kernels may still read it */
  CU_CHECK(cudaFree(p));
  cu_of(be)->frees++;
}
/* host src may be reused as soon as this returns: wait for the copy */
static void cu_to_device(const struct nn_backend *be, void *dst, const void *src, size_t bytes) {
  if (!bytes) return;
  CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cu_of(be)->stream));
  CU_CHECK(cudaStreamSynchronize(cu_of(be)->stream));
}
static void cu_to_host(const struct nn_backend *be, void *dst, const void *src, size_t bytes) {
  if (!bytes) return;
  CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cu_of(be)->stream));
  CU_CHECK(cudaStreamSynchronize(cu_of(be)->stream));
}
static void cu_copy(const struct nn_backend *be, void *dst, const void *src, size_t bytes) {
  if (!bytes || dst == src) return;
  CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cu_of(be)->stream));
}
static void cu_sync(const struct nn_backend *be) { CU_CHECK(cudaStreamSynchronize(cu_of(be)->stream)); }

__global__ void k_fill(float *x, float v, int64_t n) {
  CU_FOR(i, n) x[i] = v;
}
static void cu_fill(const struct nn_backend *be, float *x, float v, int64_t n) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(n, k_fill, x, v, n);
}
__global__ void k_axpy(float *y, float a, const float *x, int64_t n) {
  CU_FOR(i, n) y[i] += a * x[i];
}
static void cu_axpy(const struct nn_backend *be, float *y, float a, const float *x, int64_t n) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(n, k_axpy, y, a, x, n);
}
/* a true IEEE division (__fdiv_rn), bit for bit the host's x / d */
__global__ void k_divide(float *x, float d, int64_t n) {
  CU_FOR(i, n) x[i] = __fdiv_rn(x[i], d);
}
static void cu_divide(const struct nn_backend *be, float *x, float d, int64_t n) {
  struct cu_ctx *cx = cu_of(be);
  CU_LAUNCH_N(n, k_divide, x, d, n);
}

/* ---- gemm ---- */

void cu_gemm(struct cu_ctx *cx, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
             int64_t lda, int64_t sa, const float *b, int64_t ldb, int64_t sb, float beta, float *c, int64_t ldc,
             int64_t sc, int64_t batch) {
  if (m <= 0 || n <= 0 || batch <= 0) return;
  if (k <= 0) { /* an empty product: c = beta * c (in place: geam allows c == a with equal leading dimensions) */
    const float zero = 0.0f;
    for (int64_t i = 0; i < batch; i++)
      CUBLAS_CHECK(cu_blas.Sgeam(cx->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)m, &beta, c + i * sc, (int)ldc, &zero,
                               c + i * sc, (int)ldc, c + i * sc, (int)ldc));
    return;
  }
  /* row-major c = op(a) op(b) is column-major c^T = op(b)^T op(a)^T; bf16: inputs rounded to bf16
   * inside cuBLAS, fp32 accumulation and output */
  cublasComputeType_t ct = cx->precision == NN_PREC_BF16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F;
  CUBLAS_CHECK(cu_blas.GemmStridedBatchedEx(cx->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                          (int)n, (int)m, (int)k, &alpha, b, CUDA_R_32F, (int)ldb, (long long)sb, a,
                                          CUDA_R_32F, (int)lda, (long long)sa, &beta, c, CUDA_R_32F, (int)ldc,
                                          (long long)sc, (int)batch, ct, CUBLAS_GEMM_DEFAULT));
}

static void cu_gemm_table(const struct nn_backend *be, const struct nn_gemm_args *g) {
  cu_gemm(cu_of(be), g->ta, g->tb, g->m, g->n, g->k, g->alpha, g->a, g->ta ? g->m : g->k, g->sa, g->b,
          g->tb ? g->k : g->n, g->sb, g->beta, g->c, g->n, g->sc, g->batch);
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

void cu_sum_mid(struct cu_ctx *cx, float *out, const float *x, const float *y, int64_t outer, int64_t n, int64_t inner,
                float alpha, int accumulate) {
  if (outer <= 0 || inner <= 0) return;
  if (inner == 1) {
    k_sum_row<<<(unsigned)(outer < 65536 ? outer : 65536), CU_THREADS, 0, cx->stream>>>(out, x, y, outer, n, alpha,
                                                                                       accumulate);
  } else {
    dim3 grid((unsigned)((inner + SUM_TX - 1) / SUM_TX), (unsigned)(outer < 65535 ? outer : 65535));
    k_sum_mid<<<grid, dim3(SUM_TX, SUM_TY), 0, cx->stream>>>(out, x, y, outer, n, inner, alpha, accumulate);
  }
  CU_LAUNCHED();
}

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
extern const struct nn_k_rnn_seq nn_cuda_rnn_seq;

/* C++20 designated initializers: a member out of declaration order is a compile error */
const struct nn_kernels nn_cuda_kernels = {
    .name = "cuda",
    .host_memory = 0,
    .open = cu_open,
    .close = cu_close,
    .use = cu_use,
    .alloc = cu_alloc,
    .free = cu_free,
    .to_device = cu_to_device,
    .to_host = cu_to_host,
    .copy = cu_copy,
    .sync = cu_sync,
    .fill = cu_fill,
    .axpy = cu_axpy,
    .divide = cu_divide,
    .gemm = cu_gemm_table,
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
    .rnn_seq = &nn_cuda_rnn_seq,
};
}
