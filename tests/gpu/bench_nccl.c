/* bench_nccl (benchmark, not a test): NCCL allreduce bus bandwidth on device buffers for the
 * gradient bucket sizes, one GPU per rank (local_rank % devices):
 *   mpirun -np <GPUs> build/bench_nccl [--iters N]
 * busbw = bytes * 2 (n-1)/n / time, as nccl-tests reports it. Without NCCL in the build, or without
 * a GPU, it says so and exits 77. Written without a GPU: never run. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn_cuda.h"
#ifdef ATTN_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size, iters = 20;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "--iters")) iters = atoi(argv[++i]);
  char why[200];
  int ndev = nn_cuda_device_count(why, sizeof why);
#ifndef ATTN_HAVE_NCCL
  (void)ndev;
  (void)iters;
  if (rank == 0) printf("SKIP: bench_nccl: this build has no NCCL\n");
  MPI_Finalize();
  return 77;
#else
  if (ndev == 0) {
    if (rank == 0) printf("SKIP: bench_nccl: no GPU: %s\n", why);
    MPI_Finalize();
    return 77;
  }
  MPI_Comm node;
  int local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local);
  cudaSetDevice(local % ndev);
  ncclUniqueId id;
  if (rank == 0) ncclGetUniqueId(&id);
  MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
  ncclComm_t nc;
  if (ncclCommInitRank(&nc, size, id, rank) != ncclSuccess) {
    fprintf(stderr, "bench_nccl: ncclCommInitRank failed on rank %d (ranks sharing a GPU?)\n", rank);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  cudaStream_t st;
  cudaStreamCreate(&st);
  size_t maxb = (size_t)256 << 20;
  float *buf;
  if (cudaMalloc((void **)&buf, maxb) != cudaSuccess) MPI_Abort(MPI_COMM_WORLD, 1);
  cudaMemset(buf, 0, maxb);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  if (rank == 0) printf("bench_nccl: %d ranks, NCCL %d.%d.%d\n%12s %12s %12s %12s\n", size, NCCL_MAJOR, NCCL_MINOR,
                        NCCL_PATCH, "bytes", "time_us", "algbw_GB/s", "busbw_GB/s");
  for (size_t bytes = (size_t)1 << 16; bytes <= maxb; bytes <<= 2) {
    size_t n = bytes / sizeof(float);
    for (int w = 0; w < 3; w++) ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, nc, st);
    cudaEventRecord(e0, st);
    for (int it = 0; it < iters; it++) ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, nc, st);
    cudaEventRecord(e1, st);
    cudaEventSynchronize(e1);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, e0, e1);
    double s = ms * 1e-3 / iters, alg = bytes / s / 1e9, bus = alg * 2.0 * (size - 1) / size;
    if (rank == 0) printf("%12zu %12.1f %12.2f %12.2f\n", bytes, s * 1e6, alg, bus);
  }
  cudaFree(buf);
  ncclCommDestroy(nc);
  MPI_Finalize();
  return 0;
#endif
}
