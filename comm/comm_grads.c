/* comm_grads: the gradient-communication interface and its choice by backend. */
#include "comm_grads.h"
#include "nn_backend.h"
#include "nn_params.h"
#include <stdlib.h>
#include <string.h>

/* ---- the MPI bucket implementation (comm_buckets.c) behind the interface ---- */
static nn_status mpi_create(void **state, struct comm *c, struct nn_params *P, const struct comm_grads_opts *o) {
  NN_TRY(comm_buckets_create((struct comm_buckets **)state, c, P, o->cap_mb, o->first_mb, o->mode));
  nn_status st = o->zero ? comm_buckets_enable_zero(*state) : NN_OK;
  if (st != NN_OK) {
    comm_buckets_free(*state);
    *state = NULL;
  }
  return st;
}
static void mpi_begin(void *s) { comm_buckets_begin(s); }
static void mpi_grad_ready(void *s, int i) { comm_buckets_grad_ready(s, i); }
static nn_status mpi_finish(void *s) { return comm_buckets_finish(s); }
static void mpi_stats(const void *s, struct comm_stats *st) { comm_buckets_stats(s, st); }
static int mpi_count(const void *s) { return comm_buckets_count(s); }
static void mpi_free(void *s) { comm_buckets_free(s); }

const struct comm_grads_impl comm_grads_mpi_buckets = {
    .name = "mpi-buckets", .create = mpi_create, .begin = mpi_begin, .grad_ready = mpi_grad_ready,
    .finish = mpi_finish, .stats = mpi_stats, .count = mpi_count, .free = mpi_free};

#ifdef ATTN_HAVE_CUDA
extern const struct comm_grads_impl comm_grads_cuda; /* comm/comm_nccl.c: NCCL, or MPI over host copies */
#endif

/* ---- registry: backend type name -> implementation for its (device) memory ---- */
#define COMM_GRADS_MAX 4
static struct {
  const char *backend;
  const struct comm_grads_impl *impl;
} reg[COMM_GRADS_MAX];
static int nreg;

int comm_grads_register(const char *backend, const struct comm_grads_impl *impl) {
  if (!backend || !impl || nreg >= COMM_GRADS_MAX) return -1;
  reg[nreg].backend = backend;
  reg[nreg++].impl = impl;
  return 0;
}

nn_status comm_grads_create(struct comm_grads **out, struct comm *c, struct nn_params *P,
                            const struct comm_grads_opts *o) {
  NN_ASSERT(P->be, "comm_grads_create before nn_params_alloc");
  *out = NULL;
  const struct comm_grads_impl *impl = NULL;
  for (int i = 0; i < nreg && !impl; i++)
    if (!strcmp(reg[i].backend, P->be->k->name)) impl = reg[i].impl;
#ifdef ATTN_HAVE_CUDA
  if (!impl && !strcmp(P->be->k->name, "cuda")) impl = &comm_grads_cuda;
#endif
  if (!impl && P->be->k->host_memory) impl = &comm_grads_mpi_buckets;
  if (!impl)
    return nn_fail(NN_ERR_ARG, "option --device %s: this build has no gradient communication for %s memory "
                               "(configure with -DATTN_NCCL=ON)", P->be->device, P->be->k->name);
  struct comm_grads *G = calloc(1, sizeof *G);
  if (!G) return nn_fail(NN_ERR_OOM, "rank %d: out of memory creating gradient communication", c->rank);
  G->impl = impl;
  nn_status st = impl->create(&G->state, c, P, o);
  if (st != NN_OK) {
    free(G);
    return st;
  }
  *out = G;
  return NN_OK;
}

void comm_grads_begin(struct comm_grads *G) { G->impl->begin(G->state); }
void comm_grads_grad_ready(void *G, int param_index) {
  struct comm_grads *g = G;
  g->impl->grad_ready(g->state, param_index);
}
nn_status comm_grads_finish(struct comm_grads *G) { return G->impl->finish(G->state); }
void comm_grads_stats(const struct comm_grads *G, struct comm_stats *s) { G->impl->stats(G->state, s); }
int comm_grads_count(const struct comm_grads *G) { return G->impl->count ? G->impl->count(G->state) : 0; }
void comm_grads_free(struct comm_grads *G) {
  if (!G) return;
  G->impl->free(G->state);
  free(G);
}
