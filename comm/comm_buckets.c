/* comm_buckets.c: gradient buckets over the flat gradient buffer (docs/ARCHITECTURE.md invariant 5).
 * Buckets are fixed at creation (trainable params in reverse declaration order, a small first
 * bucket, then up to the cap) and launched strictly in bucket order as backward finishes them:
 * MPI_Iallreduce progressed by MPI_Test from grad_ready (COMM_NONBLOCKING), or a communication
 * thread reducing one bucket after the other (COMM_THREAD). finish waits, bounded by the
 * timeout, and divides by the rank count. Collectives run on a private duplicate communicator,
 * so they never interleave with the trainer's other collectives. With ZeRO-1 (comm_buckets_enable_zero)
 * finish leaves the mean only in this rank's share of P->grad. COMM_THREAD: the thread reduce-scatters each
 * bucket (blocking MPI_Reduce_scatter in place, counts = the bucket's overlap with each rank's share, then
 * this rank's part moved from the bucket's start to its place). COMM_NONBLOCKING: each bucket is still
 * MPI_Iallreduce'd and only the share is kept: Open MPI 4.1's non-blocking MPI_Ireduce_scatter and
 * per-owner MPI_Ireduce were measured several times slower (docs/arch/zero.md). No buffer beyond P->grad. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "comm_impl.h"
#include "nn_backend.h"
#include "nn_params.h"
#include "nn_fault.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIB (1024.0 * 1024.0)

struct bucket {
  int64_t offset, numel; /* slice of P->grad */
  int *rs_counts;        /* zero: elements of the bucket in each rank's share (0: none) */
  int64_t *rs_start;     /* zero: where each rank's part of the bucket starts in P->grad */
  int nparams;           /* parameters in it */
  int pending;           /* parameters not yet signalled this step */
  int req0, nreq;        /* its requests in B->req (one per COMM_CHUNK floats; 0 with zero in COMM_THREAD) */
  double t_done;         /* when it was seen complete this step */
};

struct comm_buckets {
  struct comm *c;
  struct nn_params *P;
  MPI_Comm comm;             /* private duplicate of c->world */
  int mode, nb;
  struct bucket *b;
  int *param_bucket;         /* P->n entries: bucket of each parameter, -1 if not reduced */
  unsigned char *signalled;  /* P->n entries: signalled this step */
  MPI_Request *req;
  int active;                /* between begin and finish */
  int launched;              /* buckets launched this step (always a prefix, in bucket order) */
  int done;                  /* COMM_NONBLOCKING: buckets known complete this step */
  double t_launch;           /* first launch of this step */
  struct comm_stats st;
  /* ZeRO-1: this rank's share [lo, hi) of P->grad */
  int zero;
  int64_t lo, hi;
  nn_status err;             /* first failure, from either thread; sticky */
  char errmsg[512];
  /* COMM_THREAD: the thread reduces buckets th_done .. launched-1; mu guards launched, th_done, err, stop */
  pthread_t th;
  int th_started, stop, th_done;
  pthread_mutex_t mu;
  pthread_cond_t work, progress;
};

static void bucket_what(const struct comm_buckets *B, int i, char *s, size_t n) {
  snprintf(s, n, "%s of gradient bucket %d (%.1f MB)", B->zero ? "reduce-scatter" : "allreduce", i,
           (double)B->b[i].numel * 4 / MIB);
}

/* Keep the first failure's status and message (nn_errmsg is per thread). */
static void set_error(struct comm_buckets *B, nn_status s) {
  if (B->err != NN_OK) return;
  B->err = s;
  snprintf(B->errmsg, sizeof B->errmsg, "%s", nn_errmsg());
}

/* Start the MPI_Iallreduce(s) of bucket i, in place on its slice. ZeRO-1 in COMM_THREAD mode (called by the
 * thread): reduce-scatter it instead, blocking (the thread's wait is bounded by thread_wait), and move this
 * rank's part of the sum from the bucket's start to its place; no request is left. */
static nn_status start_bucket(struct comm_buckets *B, int i) {
  struct bucket *k = &B->b[i];
  if (B->zero && B->mode == COMM_THREAD) {
    int me = B->c->rank, rc = MPI_Reduce_scatter(MPI_IN_PLACE, B->P->grad + k->offset, k->rs_counts, MPI_FLOAT, MPI_SUM,
                                                 B->comm);
    if (rc != MPI_SUCCESS) {
      char what[96];
      bucket_what(B, i, what, sizeof what);
      return comm_mpi_fail(B->c, rc, what);
    }
    if (k->rs_counts[me] > 0 && k->rs_start[me] != k->offset)
      memmove(B->P->grad + k->rs_start[me], B->P->grad + k->offset, sizeof(float) * (size_t)k->rs_counts[me]);
    return NN_OK;
  }
  for (int r = 0; r < k->nreq; r++) {
    int64_t off = (int64_t)r * COMM_CHUNK, n = k->numel - off < COMM_CHUNK ? k->numel - off : COMM_CHUNK;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, B->P->grad + k->offset + off, (int)n, MPI_FLOAT, MPI_SUM,
                            B->comm, &B->req[k->req0 + r]);
    if (rc != MPI_SUCCESS) {
      char what[96];
      bucket_what(B, i, what, sizeof what);
      return comm_mpi_fail(B->c, rc, what);
    }
  }
  return NN_OK;
}

/* ---- the communication thread ---- */

static void *thread_main(void *arg) {
  struct comm_buckets *B = arg;
  pthread_mutex_lock(&B->mu);
  for (;;) {
    while (!B->stop && B->th_done == B->launched) pthread_cond_wait(&B->work, &B->mu);
    if (B->stop) break;
    int i = B->th_done, skip = B->err != NN_OK; /* after a failure, no more collectives */
    pthread_mutex_unlock(&B->mu);
    nn_status s = NN_OK;
    if (!skip) {
      char what[96];
      bucket_what(B, i, what, sizeof what);
      s = start_bucket(B, i);
      if (s == NN_OK)
        s = comm_wait_all(B->c, B->b[i].nreq, B->req + B->b[i].req0, MPI_Wtime(), what);
    }
    pthread_mutex_lock(&B->mu);
    if (s != NN_OK) set_error(B, s);
    B->b[i].t_done = MPI_Wtime();
    B->th_done++;
    pthread_cond_signal(&B->progress);
  }
  pthread_mutex_unlock(&B->mu);
  return NULL;
}

/* Hand bucket launched to the thread. */
static void thread_launch(struct comm_buckets *B) {
  pthread_mutex_lock(&B->mu);
  B->launched++;
  pthread_cond_signal(&B->work);
  pthread_mutex_unlock(&B->mu);
}

/* Wait until the thread has finished every bucket; the deadline restarts whenever one completes. */
static void thread_wait(struct comm_buckets *B) {
  struct comm *c = B->c;
  pthread_mutex_lock(&B->mu);
  int seen = B->th_done;
  double t0 = MPI_Wtime();
  while (B->th_done < B->nb && B->err == NN_OK) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_cond_timedwait(&B->progress, &B->mu, &ts);
    if (B->th_done != seen) seen = B->th_done, t0 = MPI_Wtime();
    /* the thread times out by itself; this catches a thread stuck inside MPI (2 s later) */
    if (c->timeout_s > 0 && MPI_Wtime() - t0 > c->timeout_s + 2 && B->th_done < B->nb) {
      char what[96];
      bucket_what(B, B->th_done, what, sizeof what);
      set_error(B, comm_timeout_fail(c, what));
    }
  }
  pthread_mutex_unlock(&B->mu);
}

/* ---- launching and waiting ---- */

/* B->err, read under the lock when the thread may write it. */
static nn_status get_err(struct comm_buckets *B) {
  if (!B->th_started) return B->err;
  pthread_mutex_lock(&B->mu);
  nn_status s = B->err;
  pthread_mutex_unlock(&B->mu);
  return s;
}

/* Launch, in bucket order, every bucket whose parameters have all been signalled. */
static void launch_ready(struct comm_buckets *B) {
  int synced = 0;
  while (B->launched < B->nb && B->b[B->launched].pending == 0 && get_err(B) == NN_OK) {
    if (!synced && B->P->be) nn_be_sync(B->P->be); /* kernels writing grads are done */
    synced = 1;
    if (B->launched == 0) B->t_launch = MPI_Wtime();
    if (B->mode == COMM_THREAD) {
      thread_launch(B);
    } else {
      nn_status s = start_bucket(B, B->launched);
      if (s != NN_OK) set_error(B, s);
      B->launched++;
    }
  }
}

/* COMM_NONBLOCKING: drive MPI progress and move B->done past the buckets that completed. */
static void test_done(struct comm_buckets *B) {
  while (B->err == NN_OK && B->done < B->launched) {
    struct bucket *k = &B->b[B->done];
    int flag = 0, rc = MPI_Testall(k->nreq, B->req + k->req0, &flag, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) {
      char what[96];
      bucket_what(B, B->done, what, sizeof what);
      set_error(B, comm_mpi_fail(B->c, rc, what));
    }
    if (!flag) return;
    k->t_done = MPI_Wtime();
    B->done++;
  }
}

/* COMM_NONBLOCKING: wait for each bucket in turn, each bounded by the timeout. */
static void nonblocking_wait(struct comm_buckets *B) {
  for (; B->err == NN_OK && B->done < B->nb; B->done++) {
    struct bucket *k = &B->b[B->done];
    char what[96];
    bucket_what(B, B->done, what, sizeof what);
    nn_status s = comm_wait_all(B->c, k->nreq, B->req + k->req0, MPI_Wtime(), what);
    if (s != NN_OK) set_error(B, s);
    k->t_done = MPI_Wtime();
  }
}

void comm_buckets_begin(struct comm_buckets *B) {
  NN_ASSERT(!B->active, "comm_buckets_begin called twice without comm_buckets_finish");
  if (B->c->size == 1 || get_err(B) != NN_OK) return;
  for (int i = 0; i < B->nb; i++) B->b[i].pending = B->b[i].nparams;
  memset(B->signalled, 0, (size_t)B->P->n);
  B->done = 0;
  if (B->mode == COMM_THREAD) {
    /* launched and th_done together, under the lock: the thread waits on th_done == launched, so a
     * spurious wake-up between two separate resets would start bucket th_done (== nb, out of range) */
    pthread_mutex_lock(&B->mu);
    B->launched = B->th_done = 0;
    pthread_mutex_unlock(&B->mu);
  } else {
    B->launched = 0;
  }
  B->active = 1;
}

void comm_buckets_grad_ready(void *ctx, int param_index) {
  struct comm_buckets *B = ctx;
  if (!B->active || param_index < 0 || param_index >= B->P->n) return;
  int bi = B->param_bucket[param_index];
  if (bi < 0) return;
  NN_ASSERT(!B->signalled[param_index], "gradient of '%s' signalled twice in one step",
            B->P->p[param_index].name);
  B->signalled[param_index] = 1;
  if (--B->b[bi].pending == 0) launch_ready(B);
  if (B->mode == COMM_NONBLOCKING) test_done(B);
}

nn_status comm_buckets_finish(struct comm_buckets *B) {
  struct comm *c = B->c;
  if (c->size == 1) return NN_OK;
  if (get_err(B) == NN_OK) {
    double t0 = MPI_Wtime();
    if (!B->active) comm_buckets_begin(B); /* no begin: everything is launched here */
    for (int i = 0; i < B->nb; i++) B->b[i].pending = 0;
    launch_ready(B);
    if (nn_fault_at(NN_FAULT_ALLREDUCE, c->rank, c->step)) {
      char what[96];
      bucket_what(B, 0, what, sizeof what);
      nn_status s = nn_fail(NN_ERR_MPI, "rank %d: MPI error in %s at step %lld: injected by ATTN_FAULT=allreduce_at_step",
                            c->rank, what, (long long)c->step);
      if (B->th_started) pthread_mutex_lock(&B->mu);
      set_error(B, s);
      if (B->th_started) pthread_mutex_unlock(&B->mu);
    }
    if (B->mode == COMM_THREAD)
      thread_wait(B);
    else
      nonblocking_wait(B);
    double t1 = MPI_Wtime(), last = B->t_launch;
    for (int i = 0; i < B->nb; i++) last = B->b[i].t_done > last ? B->b[i].t_done : last;
    B->st.wait_s += t1 - t0;
    B->st.comm_s += last - B->t_launch;
    B->st.bytes += B->P->trainable * (int64_t)sizeof(float);
  }
  B->active = 0;
  nn_status e = get_err(B); /* the thread is idle now (finished or failed) */
  if (e != NN_OK) return nn_fail(e, "%s", B->errmsg);
  /* sum -> mean, through the backend (an NCCL implementation would use ncclAvg instead) */
  if (B->zero) { /* this rank's share only */
    if (B->hi > B->lo) nn_be_divide(B->P->be, B->P->grad + B->lo, (float)c->size, B->hi - B->lo);
  } else if (B->P->trainable) {
    nn_be_divide(B->P->be, B->P->grad, (float)c->size, B->P->trainable);
  }
  return NN_OK;
}

/* ---- creation ---- */

/* Split the trainable parameters, in reverse declaration order, into buckets. */
static void assign_buckets(struct comm_buckets *B, double cap_mb, double first_mb) {
  struct nn_params *P = B->P;
  double limit = (first_mb > 0 ? first_mb : cap_mb) * MIB;
  struct bucket *cur = NULL;
  int64_t covered = 0;
  for (int i = P->n - 1; i >= 0; i--) {
    const struct nn_param *p = &P->p[i];
    B->param_bucket[i] = -1;
    if (!p->trainable || p->t.numel == 0) continue;
    double bytes = (double)p->t.numel * sizeof(float);
    if (cur && (double)cur->numel * sizeof(float) + bytes > limit) {
      cur = NULL;
      limit = cap_mb * MIB;
    }
    if (!cur) {
      cur = &B->b[B->nb++];
      memset(cur, 0, sizeof *cur);
      cur->offset = p->offset + p->t.numel;
    }
    NN_ASSERT(p->offset + p->t.numel == cur->offset,
              "gradient of '%s' [%lld, +%lld) is not contiguous with its bucket starting at %lld", p->name,
              (long long)p->offset, (long long)p->t.numel, (long long)cur->offset);
    cur->offset = p->offset;
    cur->numel += p->t.numel;
    cur->nparams++;
    covered += p->t.numel;
    B->param_bucket[i] = B->nb - 1;
  }
  NN_ASSERT(covered == P->trainable, "buckets cover %lld of %lld trainable gradient elements",
            (long long)covered, (long long)P->trainable);
  int nreq = 0;
  for (int i = 0; i < B->nb; i++) {
    B->b[i].req0 = nreq;
    B->b[i].nreq = (int)((B->b[i].numel + COMM_CHUNK - 1) / COMM_CHUNK);
    nreq += B->b[i].nreq;
  }
  B->req = malloc(sizeof *B->req * (size_t)(nreq ? nreq : 1));
  for (int i = 0; B->req && i < nreq; i++) B->req[i] = MPI_REQUEST_NULL;
}

/* Allgather the bucket boundaries and check that every rank has the same ones. */
static nn_status check_same_buckets(struct comm_buckets *B) {
  struct comm *c = B->c;
  int nb = B->nb, *counts = malloc(sizeof(int) * (size_t)c->size);
  int64_t *mine = malloc(sizeof(int64_t) * 2 * (size_t)(nb + 1));
  int64_t *all = malloc(sizeof(int64_t) * 2 * (size_t)(nb + 1) * (size_t)c->size);
  nn_status s = NN_OK;
  if (!counts || !mine || !all) {
    s = nn_fail(NN_ERR_OOM, "rank %d: out of memory checking gradient buckets", c->rank);
    goto out;
  }
  MPI_Request r;
  int rc = MPI_Iallgather(&nb, 1, MPI_INT, counts, 1, MPI_INT, B->comm, &r);
  if (rc != MPI_SUCCESS) s = comm_mpi_fail(c, rc, "allgather of gradient bucket counts");
  if (s == NN_OK) s = comm_wait_all(c, 1, &r, MPI_Wtime(), "allgather of gradient bucket counts");
  for (int q = 1; s == NN_OK && q < c->size; q++)
    if (counts[q] != counts[0])
      s = nn_fail(NN_ERR_STATE,
                  "rank %d: gradient buckets differ across ranks: rank %d has %d, rank 0 has %d "
                  "(same model and bucket size on every rank?)", c->rank, q, counts[q], counts[0]);
  if (s != NN_OK) goto out;
  for (int i = 0; i < nb; i++) mine[2 * i] = B->b[i].offset, mine[2 * i + 1] = B->b[i].numel;
  rc = MPI_Iallgather(mine, 2 * nb, MPI_INT64_T, all, 2 * nb, MPI_INT64_T, B->comm, &r);
  if (rc != MPI_SUCCESS) s = comm_mpi_fail(c, rc, "allgather of gradient bucket boundaries");
  if (s == NN_OK) s = comm_wait_all(c, 1, &r, MPI_Wtime(), "allgather of gradient bucket boundaries");
  for (int q = 1; s == NN_OK && q < c->size; q++)
    for (int i = 0; s == NN_OK && i < nb; i++) {
      const int64_t *a = all + 2 * ((int64_t)q * nb + i), *z = all + 2 * i;
      if (a[0] != z[0] || a[1] != z[1])
        s = nn_fail(NN_ERR_STATE,
                    "rank %d: gradient bucket %d differs across ranks: [%lld, +%lld) on rank %d, "
                    "[%lld, +%lld) on rank 0", c->rank, i, (long long)a[0], (long long)a[1], q,
                    (long long)z[0], (long long)z[1]);
    }
out:
  free(counts);
  free(mine);
  free(all);
  return s;
}

/* Start the communication thread, or fall back to COMM_NONBLOCKING with a note on rank 0. */
static void start_thread(struct comm_buckets *B) {
  const char *why = NULL;
  if (B->c->thread_level < MPI_THREAD_MULTIPLE)
    why = "MPI did not grant MPI_THREAD_MULTIPLE";
  else if (pthread_mutex_init(&B->mu, NULL) || pthread_cond_init(&B->work, NULL) ||
           pthread_cond_init(&B->progress, NULL) || pthread_create(&B->th, NULL, thread_main, B))
    why = "the communication thread could not be started";
  if (!why) {
    B->th_started = 1;
    return;
  }
  B->mode = COMM_NONBLOCKING;
  if (B->c->rank == 0)
    fprintf(stderr, "comm: %s; gradients are averaged with non-blocking MPI_Iallreduce instead\n", why);
}

nn_status comm_buckets_create(struct comm_buckets **out, struct comm *c, struct nn_params *P,
                              double cap_mb, double first_mb, int mode) {
  NN_ASSERT(cap_mb > 0, "gradient bucket cap must be > 0 MB, got %g", cap_mb);
  NN_ASSERT(mode == COMM_NONBLOCKING || mode == COMM_THREAD, "unknown comm mode %d", mode);
  NN_ASSERT(P->grad || P->trainable == 0, "comm_buckets_create before nn_params_alloc");
  *out = NULL;
  struct comm_buckets *B = calloc(1, sizeof *B);
  if (!B) return nn_fail(NN_ERR_OOM, "rank %d: out of memory creating gradient buckets", c->rank);
  B->c = c;
  B->P = P;
  B->mode = mode;
  B->comm = MPI_COMM_NULL;
  int n = P->n ? P->n : 1;
  B->b = malloc(sizeof *B->b * (size_t)n);
  B->param_bucket = malloc(sizeof(int) * (size_t)n);
  B->signalled = calloc((size_t)n, 1);
  if (B->b && B->param_bucket && B->signalled) assign_buckets(B, cap_mb, first_mb);
  if (!B->b || !B->param_bucket || !B->signalled || !B->req) {
    comm_buckets_free(B);
    return nn_fail(NN_ERR_OOM, "rank %d: out of memory creating gradient buckets", c->rank);
  }
  int rc = MPI_Comm_dup(c->world, &B->comm);
  nn_status s = rc == MPI_SUCCESS ? NN_OK : comm_mpi_fail(c, rc, "MPI_Comm_dup for gradient buckets");
  if (s == NN_OK) {
    MPI_Comm_set_errhandler(B->comm, MPI_ERRORS_RETURN);
    s = check_same_buckets(B);
  }
  if (s != NN_OK) {
    comm_buckets_free(B);
    return s;
  }
  if (B->mode == COMM_THREAD && c->size > 1) start_thread(B);
  *out = B;
  return NN_OK;
}

nn_status comm_buckets_enable_zero(struct comm_buckets *B) {
  struct comm *c = B->c;
  struct nn_params *P = B->P;
  NN_ASSERT(!B->active && !B->zero, "comm_buckets_enable_zero after begin, or twice");
  if (!P->be->k->host_memory)
    return nn_fail(NN_ERR_ARG, "option --zero 1: needs parameters in host memory (--device cpu), not %s", P->be->device);
  if (P->trainable > (int64_t)INT32_MAX)
    return nn_fail(NN_ERR_ARG, "option --zero 1: %lld trainable parameters, at most %d supported", (long long)P->trainable,
                   INT32_MAX);
  B->lo = comm_share_start(P->trainable, c->rank, c->size);
  B->hi = comm_share_start(P->trainable, c->rank + 1, c->size);
  /* each bucket's parts: its overlap with every rank's share (counts fit an int: the whole buffer does) */
  for (int i = 0; i < B->nb; i++) {
    struct bucket *k = &B->b[i];
    k->rs_counts = malloc(sizeof(int) * (size_t)c->size);
    k->rs_start = malloc(sizeof(int64_t) * (size_t)c->size);
    if (!k->rs_counts || !k->rs_start)
      return nn_fail(NN_ERR_OOM, "rank %d: out of memory for the ZeRO-1 bucket parts", c->rank);
    for (int q = 0; q < c->size; q++) {
      int64_t a = comm_share_start(P->trainable, q, c->size), z = comm_share_start(P->trainable, q + 1, c->size);
      a = a > k->offset ? a : k->offset;
      z = z < k->offset + k->numel ? z : k->offset + k->numel;
      k->rs_counts[q] = z > a ? (int)(z - a) : 0;
      k->rs_start[q] = a;
    }
    if (B->mode == COMM_THREAD) k->nreq = 0; /* the thread's reduce-scatter is blocking: nothing to wait for */
  }
  B->zero = 1;
  return NN_OK;
}

void comm_buckets_free(struct comm_buckets *B) {
  if (!B) return;
  if (B->th_started) {
    pthread_mutex_lock(&B->mu);
    B->stop = 1;
    pthread_cond_signal(&B->work);
    int failed = B->err != NN_OK;
    pthread_mutex_unlock(&B->mu);
    if (failed) {
      pthread_detach(B->th); /* it may sit in a dead collective: leave it (and B) to the abort */
      return;
    }
    pthread_join(B->th, NULL);
    pthread_mutex_destroy(&B->mu);
    pthread_cond_destroy(&B->work);
    pthread_cond_destroy(&B->progress);
  }
  if (B->err != NN_OK && B->done < B->launched) return; /* requests still pending: leak, job aborts */
  if (B->comm != MPI_COMM_NULL) MPI_Comm_free(&B->comm);
  for (int i = 0; B->b && i < B->nb; i++) free(B->b[i].rs_counts), free(B->b[i].rs_start);
  free(B->b);
  free(B->param_bucket);
  free(B->signalled);
  free(B->req);
  free(B);
}

int comm_buckets_count(const struct comm_buckets *B) { return B->nb; }

void comm_buckets_range(const struct comm_buckets *B, int i, int64_t *offset, int64_t *numel) {
  NN_ASSERT(i >= 0 && i < B->nb, "gradient bucket %d out of range [0, %d)", i, B->nb);
  *offset = B->b[i].offset;
  *numel = B->b[i].numel;
}

int comm_buckets_mode(const struct comm_buckets *B) { return B->mode; }

void comm_buckets_stats(const struct comm_buckets *B, struct comm_stats *s) { *s = B->st; }
