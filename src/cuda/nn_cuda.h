/* nn_cuda: the CUDA backend (one instance per process/rank, on GPU local_rank % devices).
 * Memory is device memory; every kernel of the CPU table has a CUDA counterpart; products go
 * through cuBLAS. Status: compiled (sm_80, sm_90, warnings as errors), NEVER RUN ON A GPU. */
#ifndef NN_CUDA_H
#define NN_CUDA_H
#include <stddef.h>
#include <stdint.h>
#include "nn_backend.h"
#include "nn_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GEMM input precision: fp32, or bf16 autocast (inputs rounded to bf16 inside cuBLAS, fp32
 * accumulation and fp32 outputs: master weights, reductions and the optimizer stay fp32). */
enum nn_precision { NN_PREC_FP32 = 0, NN_PREC_BF16 = 1 };

/* CUDA devices visible to this process (0 when none or no driver; never fails; why gets the
 * reason when 0 and why != NULL). */
int nn_cuda_device_count(char *why, size_t n);
/* The kernel table of the CUDA backend type ("cuda"): nn_backend_open("cuda[:N]") opens an
 * instance on device N % devices (N defaults to the local rank) with its own stream, cuBLAS
 * handle and workspace. */
extern const struct nn_kernels nn_cuda_kernels;
/* GEMM precision of a CUDA instance (default fp32, no TF32). */
void nn_cuda_set_precision(struct nn_backend *be, enum nn_precision prec);
/* Parse "fp32" or "bf16"; NN_ERR_ARG naming --precision otherwise. */
nn_status nn_precision_parse(const char *s, enum nn_precision *out);
/* The instance's compute stream (a cudaStream_t) and CUDA device. */
void *nn_cuda_stream(const struct nn_backend *be);
int nn_cuda_device(const struct nn_backend *be);

struct nn_cuda_stats {
  int64_t device_mallocs; /* cudaMalloc calls of this instance since open (alloc + scratch growth) */
  int64_t device_frees;
  size_t scratch_bytes;   /* internal scratch held */
};
void nn_cuda_get_stats(const struct nn_backend *be, struct nn_cuda_stats *s);

#ifdef __cplusplus
}
#endif
#endif
