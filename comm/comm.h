/* comm: the process group over MPI. Start-up (mpirun, srun or no launcher), broadcast,
 * small allreduces, agreement on errors, replica checksums, and the gradient buckets that
 * average the flat gradient buffer while backward runs (docs/ARCHITECTURE.md invariant 5).
 * Every collective is bounded by c->timeout_s and returns NN_ERR_MPI with a message naming
 * the rank, the collective and the step; only comm_abort ends the job. */
#ifndef COMM_H
#define COMM_H
#include <mpi.h>
#include <stdint.h>
#include "nn_status.h"

struct nn_params;

struct comm {
  int rank, size;             /* in MPI_COMM_WORLD */
  int local_rank, local_size; /* among the ranks of this node */
  MPI_Comm world, node;       /* world: a duplicate of MPI_COMM_WORLD (errors return); node: this node's ranks */
  double timeout_s;           /* give up on a collective after this many seconds; 0 = wait forever */
  int64_t step;               /* set by the trainer, used in messages */
  int thread_level;           /* MPI thread support granted (MPI_THREAD_*) */
  int default_threads;        /* usable cores of this node / ranks on it, >= 1 (see comm_default_threads) */
  int owns_mpi;               /* comm_init called MPI_Init_thread (comm_finalize calls MPI_Finalize) */
};

#define COMM_DEFAULT_TIMEOUT_S 300.0

/* Start MPI (asks MPI_THREAD_MULTIPLE), fill rank/size/local rank; collective over all ranks. */
nn_status comm_init(struct comm *c, int *argc, char ***argv);
/* A process group of the ranks of parent with the same color (MPI_Comm_split; rank order kept),
 * with its own node communicator; its thread default is the parent's (the groups share the node's cores);
 * freed with comm_finalize (MPI stays up). */
nn_status comm_split(const struct comm *parent, int color, struct comm *out);
/* Root gets every rank's bytes of send, rank r's at recv + r * bytes (recv ignored elsewhere). */
nn_status comm_gather_bytes(struct comm *c, const void *send, int bytes, void *recv, int root);
/* Free the communicators and finalize MPI (if comm_init started it). */
void comm_finalize(struct comm *c);
/* End the whole job with exit code `code` (MPI_Abort); the only way a job ends on error. */
void comm_abort(struct comm *c, int code) __attribute__((noreturn));
/* Threads per rank: usable cores of the node / ranks on the node (affinity aware), >= 1. */
int comm_default_threads(const struct comm *c);

/* Broadcast bytes of buf from root (chunked above 1 GB). */
nn_status comm_bcast(struct comm *c, void *buf, int64_t bytes, int root);
/* x(n) = sum over ranks of x(n), in place. */
nn_status comm_allreduce_double(struct comm *c, double *x, int n);
/* x(n) = sum over ranks of x(n), in place (chunked for large n). */
nn_status comm_allreduce_float_sum(struct comm *c, float *x, int64_t n);
/* Wait until every rank has arrived. */
nn_status comm_barrier(struct comm *c);
/* *global = the largest status code of all ranks (NN_OK when every rank passed local = NN_OK). */
nn_status comm_any_error(struct comm *c, nn_status local, nn_status *global);
/* Compare a checksum (bitwise hash and double sum) of host array x(n) across ranks;
 * NN_ERR_STATE on every rank, naming the step and the differing ranks, if any differ. */
nn_status comm_check_replicas(struct comm *c, const float *x, int64_t n, int64_t step);

/* ZeRO-1 (--zero 1, docs/arch/zero.md): rank r owns the elements [comm_share_start(n, r, size),
 * comm_share_start(n, r + 1, size)) of the n trainable elements of the flat buffers: contiguous, in rank
 * order, sizes differing by at most one; the same split as a checkpoint's shards (ckpt_slice_start), so a
 * rank's optimizer slice is exactly its shard's. */
static inline int64_t comm_share_start(int64_t n, int r, int size) { return n * r / size; }

/* Parameter collectives over backend memory (staged through the host when the backend's memory
 * is not host-addressable; comm_params.c). */
/* Broadcast P's flat parameter buffer from root. */
nn_status comm_params_bcast(struct comm *c, struct nn_params *P, int root);
/* ZeRO-1: every rank holds the updated elements of its share of [0, P->trainable) of P->data (comm_share_start);
 * afterwards every rank holds all of them (MPI_Allgatherv in place). Collective. */
nn_status comm_params_allgather(struct comm *c, struct nn_params *P);
/* comm_check_replicas over P's flat parameter buffer. */
nn_status comm_params_check_replicas(struct comm *c, const struct nn_params *P, int64_t step);

/* ---- gradient buckets (the MPI implementation behind comm_grads.h) ---- */
enum { COMM_NONBLOCKING = 0, COMM_THREAD = 1 };

struct comm_buckets;

struct comm_stats {
  double comm_s;  /* time from the first bucket's launch to the last one's completion, summed over steps */
  double wait_s;  /* time spent waiting in comm_buckets_finish (communication not hidden) */
  int64_t bytes;  /* bytes of gradient buckets reduced (allreduce, or reduce-scatter with --zero 1) */
};

/* Fix the buckets over P->grad: trainable params in reverse declaration order, a first bucket
 * of first_mb, then up to cap_mb each (MiB; a parameter is never split); checked identical on
 * every rank. mode COMM_THREAD needs MPI_THREAD_MULTIPLE, else falls back to COMM_NONBLOCKING.
 * Collective. */
nn_status comm_buckets_create(struct comm_buckets **B, struct comm *c, struct nn_params *P,
                              double cap_mb, double first_mb, int mode);
/* ZeRO-1 (right after create, before the first begin): finish leaves the mean only in this rank's share of
 * P->grad (comm_share_start); the rest of P->grad is left undefined. COMM_THREAD reduce-scatters each bucket
 * (MPI_Reduce_scatter on the thread), COMM_NONBLOCKING keeps MPI_Iallreduce (docs/arch/zero.md); same bucket
 * order and overlap. Local. */
nn_status comm_buckets_enable_zero(struct comm_buckets *B);
/* Stop the communication thread and free the buckets. */
void comm_buckets_free(struct comm_buckets *B);
/* Start of a backward whose gradients must be averaged (the last micro-batch of a step). */
void comm_buckets_begin(struct comm_buckets *B);
/* nn_grad_ready_fn for nn_graph_track_params: param_index's gradient is final for this step. */
void comm_buckets_grad_ready(void *B, int param_index);
/* Launch the buckets not yet launched (in order), wait for all, scale P->grad to the mean over ranks
 * (with zero: this rank's share of it). */
nn_status comm_buckets_finish(struct comm_buckets *B);
/* Number of buckets. */
int comm_buckets_count(const struct comm_buckets *B);
/* Bucket i's slice of P->grad: [*offset, *offset + *numel). */
void comm_buckets_range(const struct comm_buckets *B, int i, int64_t *offset, int64_t *numel);
/* The mode in use (COMM_NONBLOCKING after a fallback). */
int comm_buckets_mode(const struct comm_buckets *B);
/* Cumulative timings since creation. */
void comm_buckets_stats(const struct comm_buckets *B, struct comm_stats *s);

#endif
