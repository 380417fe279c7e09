/* Parameter collectives over backend memory: direct on host-addressable memory, else staged. */
#include "comm_impl.h"
#include "nn_backend.h"
#include "nn_params.h"
#include <stdlib.h>

/* A host copy of P->data (NULL on OOM), or P->data itself when the backend's memory is host memory. */
static float *host_view(const struct nn_params *P, int *copied) {
  *copied = !P->be->k->host_memory;
  if (!*copied) return P->data;
  float *h = malloc(sizeof(float) * (size_t)(P->total ? P->total : 1));
  if (h) nn_be_to_host(P->be, h, P->data, sizeof(float) * (size_t)P->total);
  return h;
}

nn_status comm_params_bcast(struct comm *c, struct nn_params *P, int root) {
  int copied;
  float *h = host_view(P, &copied);
  if (!h) return nn_fail(NN_ERR_OOM, "rank %d: out of memory staging %lld parameters", c->rank, (long long)P->total);
  nn_status st = comm_bcast(c, h, (int64_t)sizeof(float) * P->total, root);
  if (copied) {
    if (st == NN_OK) nn_be_to_device(P->be, P->data, h, sizeof(float) * (size_t)P->total);
    free(h);
  }
  return st;
}

nn_status comm_params_allgather(struct comm *c, struct nn_params *P) {
  int64_t n = P->trainable;
  if (c->size == 1 || n == 0) return NN_OK;
  if (n > (int64_t)INT32_MAX)
    return nn_fail(NN_ERR_ARG, "option --zero 1: %lld trainable parameters, at most %d supported", (long long)n, INT32_MAX);
  int *counts = malloc(sizeof(int) * 2 * (size_t)c->size), *displs = counts ? counts + c->size : NULL;
  float *h = P->be->k->host_memory ? P->data : malloc(sizeof(float) * (size_t)n);
  nn_status st = NN_OK;
  if (!counts || !h) st = nn_fail(NN_ERR_OOM, "rank %d: out of memory gathering %lld parameters", c->rank, (long long)n);
  for (int q = 0; st == NN_OK && q < c->size; q++) {
    displs[q] = (int)comm_share_start(n, q, c->size);
    counts[q] = (int)(comm_share_start(n, q + 1, c->size) - displs[q]);
  }
  if (st == NN_OK && h != P->data) /* staged: this rank's share to the host */
    nn_be_to_host(P->be, h + displs[c->rank], P->data + displs[c->rank], sizeof(float) * (size_t)counts[c->rank]);
  if (st == NN_OK) {
    MPI_Request r;
    int rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, h, counts, displs, MPI_FLOAT, c->world, &r);
    st = rc != MPI_SUCCESS ? comm_mpi_fail(c, rc, "allgather of the updated parameters (--zero 1)")
                           : comm_wait_all(c, 1, &r, MPI_Wtime(), "allgather of the updated parameters (--zero 1)");
  }
  if (st == NN_OK && h != P->data) nn_be_to_device(P->be, P->data, h, sizeof(float) * (size_t)n);
  if (h != P->data) free(h);
  free(counts);
  return st;
}

nn_status comm_params_check_replicas(struct comm *c, const struct nn_params *P, int64_t step) {
  int copied;
  float *h = host_view(P, &copied);
  if (!h) return nn_fail(NN_ERR_OOM, "rank %d: out of memory staging %lld parameters", c->rank, (long long)P->total);
  nn_status st = comm_check_replicas(c, h, P->total, step);
  if (copied) free(h);
  return st;
}
