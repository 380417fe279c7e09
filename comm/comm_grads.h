/* comm_grads: gradient communication behind one interface (docs/arch/backend.md).
 *
 * The trainer averages the flat gradient buffer P->grad over the ranks while backward runs:
 * create once, begin before the backward whose gradients must be averaged, grad_ready from
 * nn_graph's readiness callback, finish before the optimizer step. The implementation is
 * chosen by the parameters' backend: host-addressable memory (CPU) gets the MPI bucket
 * implementation of comm_buckets.c; a device backend registers its own (e.g. NCCL over device
 * buffers) with comm_grads_register under the backend's name. Every implementation keeps the
 * fixed bucket order (reverse declaration order, the same on every rank), so results do not
 * depend on timing. */
#ifndef COMM_GRADS_H
#define COMM_GRADS_H
#include "comm.h"

struct nn_params;

/* Options of comm_grads_create. */
struct comm_grads_opts {
  double cap_mb, first_mb; /* bucket sizes (MiB) */
  int mode;                /* COMM_NONBLOCKING or COMM_THREAD (MPI implementation) */
  int zero;                /* 1: ZeRO-1, reduce-scatter: finish leaves the mean in this rank's share of
                              P->grad only (comm_share_start); an implementation without it fails create
                              with NN_ERR_ARG naming --zero */
};

/* One implementation: its functions over its own state (void *). */
struct comm_grads_impl {
  const char *name; /* "mpi-buckets", "nccl" */
  nn_status (*create)(void **state, struct comm *c, struct nn_params *P, const struct comm_grads_opts *o);
  void (*begin)(void *state);
  void (*grad_ready)(void *state, int param_index);
  nn_status (*finish)(void *state); /* P->grad holds the mean over ranks afterwards (zero: this rank's share) */
  void (*stats)(const void *state, struct comm_stats *s);
  int (*count)(const void *state);  /* buckets */
  void (*free)(void *state);
};

struct comm_grads {
  const struct comm_grads_impl *impl;
  void *state;
};

/* Create the gradient communication for P (after nn_params_alloc), chosen by P's backend. Collective. */
nn_status comm_grads_create(struct comm_grads **G, struct comm *c, struct nn_params *P, const struct comm_grads_opts *o);
/* Start of a backward whose gradients must be averaged (the last micro-batch of a step). */
void comm_grads_begin(struct comm_grads *G);
/* nn_grad_ready_fn for nn_graph_track_params (ctx = G): param_index's gradient is final. */
void comm_grads_grad_ready(void *G, int param_index);
/* Launch what is left, wait, leave the mean over ranks in P->grad. */
nn_status comm_grads_finish(struct comm_grads *G);
/* Cumulative timings since creation. */
void comm_grads_stats(const struct comm_grads *G, struct comm_stats *s);
/* Number of buckets. */
int comm_grads_count(const struct comm_grads *G);
/* Free (NULL is fine). */
void comm_grads_free(struct comm_grads *G);

/* Register the implementation for parameters on backend type `backend` (e.g. "cuda"); 0 on success. */
int comm_grads_register(const char *backend, const struct comm_grads_impl *impl);
/* The MPI bucket implementation over host buffers (comm_buckets.c). */
extern const struct comm_grads_impl comm_grads_mpi_buckets;

#endif
