/* comm_impl: helpers shared by comm.c and comm_buckets.c (not part of the public API). */
#ifndef COMM_IMPL_H
#define COMM_IMPL_H
#include "comm.h"

/* Largest count handed to one MPI call (elements or bytes): 2^28 keeps every count an int. */
#define COMM_CHUNK ((int64_t)1 << 28)

/* NN_ERR_MPI naming the rank, what was being done, the step and MPI's error string for rc. */
nn_status comm_mpi_fail(const struct comm *c, int rc, const char *what);
/* NN_ERR_MPI "rank R: timed out after T s in WHAT at step S". */
nn_status comm_timeout_fail(const struct comm *c, const char *what);
/* Poll n requests with MPI_Test until all are complete or c->timeout_s has passed since t0. */
nn_status comm_wait_all(const struct comm *c, int n, MPI_Request *req, double t0, const char *what);
/* Whether c->timeout_s has passed since t0 (never when timeout_s <= 0). */
int comm_expired(const struct comm *c, double t0);

#endif
