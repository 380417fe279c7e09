/* comm_nccl.c: gradient averaging over device buffers for the CUDA backend, behind comm_grads.
 * The buckets are comm_buckets' (same fixed order: reverse declaration order, first bucket then
 * the cap; checked identical on every rank), taken through its public API. With NCCL: a bucket
 * is launched as soon as backward has queued its last gradient: an event on the compute stream,
 * the communication stream waits for it and runs ncclAllReduce (sum) in place; finish makes the
 * compute stream wait for the last bucket, bounds the wait by the job's timeout (on expiry:
 * ncclCommAbort and the usual message naming rank, collective, bucket and step) and divides by
 * the rank count. The communicator comes from a unique id broadcast over MPI. Without NCCL, or
 * when ranks share a GPU (NCCL needs one GPU per rank; the tests run 2 ranks on one GPU): each
 * bucket goes through a pinned host copy and MPI (no overlap), said once at start.
 * Status: compiled, NEVER RUN ON A GPU. */
#ifdef ATTN_HAVE_CUDA
#include "comm_grads.h"
#include "comm_impl.h"
#include "nn_backend.h"
#include "nn_cuda.h"
#include "nn_params.h"
#include <cuda_runtime.h>
#ifdef ATTN_HAVE_NCCL
#include <nccl.h>
#endif
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)

struct gbucket {
  int64_t offset, numel; /* slice of P->grad */
  int nparams, pending;
};

struct cuda_grads {
  struct comm *c;
  struct nn_params *P;
  struct comm_buckets *layout; /* the MPI implementation's buckets: their ranges only */
  int nb;
  struct gbucket *b;
  int *param_bucket;           /* P->n entries, -1 when not reduced */
  unsigned char *signalled;
  int active, launched;
  cudaStream_t comp;           /* the backend's compute stream */
  struct comm_stats st;
  nn_status err;               /* sticky */
  char errmsg[512];
  int use_nccl;                /* 0: MPI over host copies */
#ifdef ATTN_HAVE_NCCL
  ncclComm_t nc;
  cudaStream_t cs;             /* communication stream */
  cudaEvent_t *ready, *done;   /* per bucket: gradients queued (compute stream), reduced (comm stream) */
  int aborted;
#endif
  MPI_Comm comm;               /* host-copy path */
  float *host;                 /* pinned staging copy of the largest bucket */
};

static void bucket_what(const struct cuda_grads *G, int i, char *s, size_t n) {
  snprintf(s, n, "%s of gradient bucket %d (%.1f MB)", G->use_nccl ? "NCCL allreduce" : "allreduce (host copy)", i,
           (double)G->b[i].numel * 4 / MIB);
}

static nn_status set_error(struct cuda_grads *G, nn_status s) {
  if (G->err == NN_OK) {
    G->err = s;
    snprintf(G->errmsg, sizeof G->errmsg, "%s", nn_errmsg());
  }
  return s;
}

static nn_status cuda_fail(struct cuda_grads *G, cudaError_t e, const char *what) {
  return set_error(G, nn_fail(NN_ERR_CUDA, "rank %d: %s failed at step %lld: %s", G->c->rank, what,
                              (long long)G->c->step, cudaGetErrorString(e)));
}

#ifdef ATTN_HAVE_NCCL
static nn_status nccl_fail(struct cuda_grads *G, ncclResult_t r, const char *what) {
  return set_error(G, nn_fail(NN_ERR_MPI, "rank %d: %s failed at step %lld: %s (%s)", G->c->rank, what,
                              (long long)G->c->step, ncclGetErrorString(r), ncclGetLastError(G->nc)));
}

/* launch bucket i: the comm stream waits for its gradients, then reduces them in place */
static void launch(struct cuda_grads *G, int i) {
  struct gbucket *k = &G->b[i];
  float *g = G->P->grad + k->offset;
  char what[96];
  cudaError_t e = cudaEventRecord(G->ready[i], G->comp);
  if (e == cudaSuccess) e = cudaStreamWaitEvent(G->cs, G->ready[i], 0);
  if (e != cudaSuccess) {
    cuda_fail(G, e, "cudaEventRecord/cudaStreamWaitEvent before a gradient bucket");
    return;
  }
  ncclResult_t r = ncclAllReduce(g, g, (size_t)k->numel, ncclFloat, ncclSum, G->nc, G->cs);
  if (r != ncclSuccess) {
    bucket_what(G, i, what, sizeof what);
    nccl_fail(G, r, what);
    return;
  }
  e = cudaEventRecord(G->done[i], G->cs);
  if (e != cudaSuccess) cuda_fail(G, e, "cudaEventRecord after a gradient bucket");
}

/* wait (host) for bucket i, bounded by the timeout; on expiry or an NCCL error abort the communicator */
static nn_status wait_bucket(struct cuda_grads *G, int i, double t0) {
  char what[96];
  for (long spins = 0;; spins++) {
    cudaError_t e = cudaEventQuery(G->done[i]);
    if (e == cudaSuccess) return NN_OK;
    if (e != cudaErrorNotReady) return cuda_fail(G, e, "waiting for a gradient bucket");
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(G->nc, &async);
    bucket_what(G, i, what, sizeof what);
    if (async != ncclSuccess) {
      ncclCommAbort(G->nc);
      G->aborted = 1;
      return nccl_fail(G, async, what);
    }
    if (comm_expired(G->c, t0)) {
      ncclCommAbort(G->nc); /* unblocks the stream; the job then ends through comm_abort */
      G->aborted = 1;
      return set_error(G, comm_timeout_fail(G->c, what));
    }
    if (spins > 1000) sched_yield();
  }
}
#endif

/* bucket i over a pinned host copy and MPI, bounded by the timeout */
static nn_status host_bucket(struct cuda_grads *G, int i) {
  struct gbucket *k = &G->b[i];
  float *g = G->P->grad + k->offset;
  size_t bytes = sizeof(float) * (size_t)k->numel;
  char what[96];
  bucket_what(G, i, what, sizeof what);
  cudaError_t e = cudaMemcpyAsync(G->host, g, bytes, cudaMemcpyDeviceToHost, G->comp);
  if (e == cudaSuccess) e = cudaStreamSynchronize(G->comp);
  if (e != cudaSuccess) return cuda_fail(G, e, "copying a gradient bucket to the host");
  int nreq = (int)((k->numel + COMM_CHUNK - 1) / COMM_CHUNK);
  MPI_Request req[64];
  NN_ASSERT(nreq <= 64, "gradient bucket %d of %lld floats is too large", i, (long long)k->numel);
  for (int r = 0; r < nreq; r++) {
    int64_t off = (int64_t)r * COMM_CHUNK, n = k->numel - off < COMM_CHUNK ? k->numel - off : COMM_CHUNK;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, G->host + off, (int)n, MPI_FLOAT, MPI_SUM, G->comm, &req[r]);
    if (rc != MPI_SUCCESS) return set_error(G, comm_mpi_fail(G->c, rc, what));
  }
  nn_status s = comm_wait_all(G->c, nreq, req, MPI_Wtime(), what);
  if (s != NN_OK) return set_error(G, s);
  e = cudaMemcpyAsync(g, G->host, bytes, cudaMemcpyHostToDevice, G->comp);
  if (e == cudaSuccess) e = cudaStreamSynchronize(G->comp);
  if (e != cudaSuccess) return cuda_fail(G, e, "copying a gradient bucket back to the device");
  return NN_OK;
}

static void cg_free(void *state) {
  struct cuda_grads *G = state;
  if (!G) return;
#ifdef ATTN_HAVE_NCCL
  if (G->nc && !G->aborted) ncclCommDestroy(G->nc);
  for (int i = 0; G->ready && i < G->nb; i++) cudaEventDestroy(G->ready[i]);
  for (int i = 0; G->done && i < G->nb; i++) cudaEventDestroy(G->done[i]);
  free(G->ready);
  free(G->done);
  if (G->cs) cudaStreamDestroy(G->cs);
#endif
  if (G->host) cudaFreeHost(G->host);
  if (G->comm != MPI_COMM_NULL) MPI_Comm_free(&G->comm);
  comm_buckets_free(G->layout);
  free(G->b);
  free(G->param_bucket);
  free(G->signalled);
  free(G);
}

static nn_status host_setup(struct cuda_grads *G, int64_t largest, const char *why);
#ifdef ATTN_HAVE_NCCL
static int shared_gpu(struct comm *c, const struct nn_backend *be);
static nn_status nccl_setup(struct cuda_grads *G);
#endif

static nn_status cg_create(void **state, struct comm *c, struct nn_params *P, const struct comm_grads_opts *o) {
  *state = NULL;
  if (o->zero) /* ZeRO-1 is implemented over host memory only (docs/arch/zero.md) */
    return nn_fail(NN_ERR_ARG, "option --zero 1: not available with --device %s (ZeRO-1 runs on --device cpu)",
                   P->be->device);
  struct cuda_grads *G = calloc(1, sizeof *G);
  if (!G) return nn_fail(NN_ERR_OOM, "rank %d: out of memory creating gradient communication", c->rank);
  G->c = c;
  G->P = P;
  G->comp = (cudaStream_t)nn_cuda_stream(P->be);
  G->comm = MPI_COMM_NULL;
  /* the bucket layout of the MPI implementation (collective; checked identical on every rank) */
  nn_status s = comm_buckets_create(&G->layout, c, P, o->cap_mb, o->first_mb, COMM_NONBLOCKING);
  if (s != NN_OK) {
    cg_free(G);
    return s;
  }
  G->nb = comm_buckets_count(G->layout);
  int n = P->n ? P->n : 1;
  G->b = calloc((size_t)(G->nb ? G->nb : 1), sizeof *G->b);
  G->param_bucket = malloc(sizeof(int) * (size_t)n);
  G->signalled = calloc((size_t)n, 1);
  if (!G->b || !G->param_bucket || !G->signalled) {
    cg_free(G);
    return nn_fail(NN_ERR_OOM, "rank %d: out of memory creating gradient communication", c->rank);
  }
  int64_t largest = 0;
  for (int i = 0; i < G->nb; i++) {
    comm_buckets_range(G->layout, i, &G->b[i].offset, &G->b[i].numel);
    largest = G->b[i].numel > largest ? G->b[i].numel : largest;
  }
  for (int p = 0; p < P->n; p++) {
    G->param_bucket[p] = -1;
    const struct nn_param *q = &P->p[p];
    if (!q->trainable || q->t.numel == 0) continue;
    for (int i = 0; i < G->nb; i++)
      if (q->offset >= G->b[i].offset && q->offset < G->b[i].offset + G->b[i].numel) {
        G->param_bucket[p] = i;
        G->b[i].nparams++;
      }
  }
  const char *why_host = "this build has no NCCL";
#ifdef ATTN_HAVE_NCCL
  G->use_nccl = c->size > 1 && !shared_gpu(c, P->be);
  why_host = "ranks share a GPU (NCCL needs one GPU per rank)";
  if (G->use_nccl) s = nccl_setup(G);
#endif
  if (!G->use_nccl && c->size > 1) s = host_setup(G, largest, why_host);
  if (s != NN_OK) {
    cg_free(G);
    return s;
  }
  *state = G;
  return NN_OK;
}

#ifdef ATTN_HAVE_NCCL
/* 1 when two ranks of the job use the same GPU (host name + PCI bus id compared over all ranks) */
static int shared_gpu(struct comm *c, const struct nn_backend *be) {
  char me[128], *all = malloc(128 * (size_t)c->size);
  int shared = 0;
  if (!all) return 1;
  memset(me, 0, sizeof me);
  gethostname(me, 64);
  size_t len = strlen(me);
  me[len++] = '/';
  if (cudaDeviceGetPCIBusId(me + len, (int)(sizeof me - len - 1), nn_cuda_device(be)) != cudaSuccess)
    snprintf(me + len, sizeof me - len, "device%d", nn_cuda_device(be));
  if (MPI_Allgather(me, 128, MPI_CHAR, all, 128, MPI_CHAR, c->world) != MPI_SUCCESS) shared = 1;
  for (int i = 0; !shared && i < c->size; i++)
    for (int j = i + 1; !shared && j < c->size; j++) shared = !strncmp(all + 128 * i, all + 128 * j, 128);
  free(all);
  return shared;
}

static nn_status nccl_setup(struct cuda_grads *G) {
  struct comm *c = G->c;
  struct nn_params *P = G->P;
  nn_status s = NN_OK;
  ncclUniqueId id;
  memset(&id, 0, sizeof id);
  ncclResult_t r = c->rank == 0 ? ncclGetUniqueId(&id) : ncclSuccess;
  int ok = r == ncclSuccess, all_ok = 0;
  if (MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, c->world) != MPI_SUCCESS || !all_ok)
    return nn_fail(NN_ERR_MPI, "rank %d: ncclGetUniqueId failed on rank 0: %s", c->rank, ncclGetErrorString(r));
  s = comm_bcast(c, &id, (int64_t)sizeof id, 0);
  if (s == NN_OK) {
    nn_backend_use(P->be); /* the instance's device is current */
    r = ncclCommInitRank(&G->nc, c->size, id, c->rank);
    if (r != ncclSuccess) G->nc = NULL;
    if (r != ncclSuccess)
      s = nn_fail(NN_ERR_MPI, "rank %d: ncclCommInitRank (%d ranks, device %d) failed: %s", c->rank, c->size,
                  nn_cuda_device(P->be), ncclGetErrorString(r));
  }
  G->ready = calloc((size_t)(G->nb ? G->nb : 1), sizeof *G->ready);
  G->done = calloc((size_t)(G->nb ? G->nb : 1), sizeof *G->done);
  if (s == NN_OK && (!G->ready || !G->done)) s = nn_fail(NN_ERR_OOM, "rank %d: out of memory (NCCL events)", c->rank);
  cudaError_t e = cudaSuccess;
  if (s == NN_OK) e = cudaStreamCreateWithFlags(&G->cs, cudaStreamNonBlocking);
  for (int i = 0; s == NN_OK && e == cudaSuccess && i < G->nb; i++) {
    e = cudaEventCreate(&G->ready[i]);
    if (e == cudaSuccess) e = cudaEventCreate(&G->done[i]);
  }
  if (s == NN_OK && e != cudaSuccess)
    s = nn_fail(NN_ERR_CUDA, "rank %d: creating the NCCL stream and events: %s", c->rank, cudaGetErrorString(e));
  if (s == NN_OK && c->rank == 0)
    printf("gradient averaging: NCCL %d.%d.%d over device buffers, %d buckets\n", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH,
           G->nb);
  return s;
}
#endif

static nn_status host_setup(struct cuda_grads *G, int64_t largest, const char *why) {
  struct comm *c = G->c;
  nn_status s = NN_OK;
  int rc = MPI_Comm_dup(c->world, &G->comm);
  if (rc != MPI_SUCCESS) s = comm_mpi_fail(c, rc, "MPI_Comm_dup for gradient buckets");
  cudaError_t e = s == NN_OK ? cudaMallocHost((void **)&G->host, sizeof(float) * (size_t)(largest ? largest : 1))
                             : cudaSuccess;
  if (e != cudaSuccess)
    s = nn_fail(NN_ERR_CUDA, "rank %d: pinned staging buffer of %lld floats: %s", c->rank, (long long)largest,
                cudaGetErrorString(e));
  if (s == NN_OK && c->rank == 0)
    printf("gradient averaging: %s: each bucket is averaged with MPI over a host copy (no overlap with backward)\n",
           why);
  return s;
}

static void cg_begin(void *state) {
  struct cuda_grads *G = state;
  NN_ASSERT(!G->active, "comm_grads_begin called twice without comm_grads_finish");
  if (G->c->size == 1 || G->err != NN_OK) return;
  for (int i = 0; i < G->nb; i++) G->b[i].pending = G->b[i].nparams;
  memset(G->signalled, 0, (size_t)G->P->n);
  G->launched = 0;
  G->active = 1;
}

static void cg_grad_ready(void *state, int param_index) {
  struct cuda_grads *G = state;
  if (!G->active || param_index < 0 || param_index >= G->P->n) return;
  int bi = G->param_bucket[param_index];
  if (bi < 0) return;
  NN_ASSERT(!G->signalled[param_index], "gradient of '%s' signalled twice in one step", G->P->p[param_index].name);
  G->signalled[param_index] = 1;
  G->b[bi].pending--;
#ifdef ATTN_HAVE_NCCL
  /* strictly in bucket order: every rank issues the same sequence of collectives */
  while (G->use_nccl && G->err == NN_OK && G->launched < G->nb && G->b[G->launched].pending == 0)
    launch(G, G->launched++);
#endif
}

static nn_status cg_finish(void *state) {
  struct cuda_grads *G = state;
  struct comm *c = G->c;
  if (c->size == 1) return NN_OK;
  if (G->err == NN_OK) {
    double t0 = MPI_Wtime();
    if (!G->active) cg_begin(G);
#ifdef ATTN_HAVE_NCCL
    if (G->use_nccl) {
      while (G->err == NN_OK && G->launched < G->nb) launch(G, G->launched++);
      for (int i = 0; G->err == NN_OK && i < G->nb; i++) wait_bucket(G, i, t0);
      if (G->err == NN_OK && G->nb > 0) {
        cudaError_t e = cudaStreamWaitEvent(G->comp, G->done[G->nb - 1], 0);
        if (e != cudaSuccess) cuda_fail(G, e, "cudaStreamWaitEvent after the gradient buckets");
        float ms = 0.0f;
        if (cudaEventElapsedTime(&ms, G->ready[0], G->done[G->nb - 1]) == cudaSuccess) G->st.comm_s += ms / 1000.0;
      }
    }
#endif
    if (!G->use_nccl) {
      for (int i = 0; G->err == NN_OK && i < G->nb; i++) host_bucket(G, i);
      G->st.comm_s += MPI_Wtime() - t0;
    }
    G->st.wait_s += MPI_Wtime() - t0;
    G->st.bytes += G->P->trainable * (int64_t)sizeof(float);
  }
  G->active = 0;
  if (G->err != NN_OK) return nn_fail(G->err, "%s", G->errmsg);
  /* sum -> mean: a true division on the compute stream, as the MPI implementation */
  if (G->P->trainable) nn_be_divide(G->P->be, G->P->grad, (float)c->size, G->P->trainable);
  return NN_OK;
}

static void cg_stats(const void *state, struct comm_stats *s) { *s = ((const struct cuda_grads *)state)->st; }
static int cg_count(const void *state) { return ((const struct cuda_grads *)state)->nb; }

const struct comm_grads_impl comm_grads_cuda = {
    .name = "nccl-or-host-mpi",
    .create = cg_create, .begin = cg_begin, .grad_ready = cg_grad_ready, .finish = cg_finish,
    .stats = cg_stats, .count = cg_count, .free = cg_free};

#else
typedef int comm_nccl_unused; /* CPU-only build: nothing here */
#endif
