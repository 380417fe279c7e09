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
/* Set up this process's CUDA backend on device local_rank % devices: stream, cuBLAS handle and
 * its workspace, scratch. NN_ERR_CUDA naming the device and the call on failure. */
nn_status nn_cuda_init(int local_rank, enum nn_precision prec);
/* Release the handles, stream and scratch (device buffers the caller allocated are its own). */
void nn_cuda_shutdown(void);
/* The device in use (-1 before nn_cuda_init). */
int nn_cuda_device(void);
/* The backend's compute stream (a cudaStream_t). */
void *nn_cuda_stream(void);
/* Parse "fp32" or "bf16"; NN_ERR_ARG naming --precision otherwise. */
nn_status nn_precision_parse(const char *s, enum nn_precision *out);
void nn_cuda_set_precision(enum nn_precision prec);

struct nn_cuda_stats {
  int64_t device_mallocs; /* cudaMalloc calls by this backend since init (alloc + scratch growth) */
  int64_t device_frees;
  size_t scratch_bytes;   /* internal scratch held */
};
void nn_cuda_get_stats(struct nn_cuda_stats *s);

/* The kernel table (valid after nn_cuda_init). */
extern const struct nn_backend nn_cuda_backend;

#ifdef __cplusplus
}
#endif
#endif
