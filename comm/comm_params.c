/* Parameter collectives over backend memory: direct on host-addressable memory, else staged. */
#include "comm.h"
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

nn_status comm_params_check_replicas(struct comm *c, const struct nn_params *P, int64_t step) {
  int copied;
  float *h = host_view(P, &copied);
  if (!h) return nn_fail(NN_ERR_OOM, "rank %d: out of memory staging %lld parameters", c->rank, (long long)P->total);
  nn_status st = comm_check_replicas(c, h, P->total, step);
  if (copied) free(h);
  return st;
}
