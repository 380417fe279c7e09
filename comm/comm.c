/* comm.c: MPI start-up and shutdown, threads per rank, and the small bounded collectives. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "comm_impl.h"
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- errors and bounded waits ---- */

nn_status comm_mpi_fail(const struct comm *c, int rc, const char *what) {
  char s[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(rc, s, &len);
  return nn_fail(NN_ERR_MPI, "rank %d: MPI error in %s at step %lld: %s", c->rank, what,
                 (long long)c->step, s);
}

nn_status comm_timeout_fail(const struct comm *c, const char *what) {
  return nn_fail(NN_ERR_MPI, "rank %d: timed out after %g s in %s at step %lld", c->rank,
                 c->timeout_s, what, (long long)c->step);
}

int comm_expired(const struct comm *c, double t0) {
  return c->timeout_s > 0 && MPI_Wtime() - t0 > c->timeout_s;
}

nn_status comm_wait_all(const struct comm *c, int n, MPI_Request *req, double t0, const char *what) {
  for (long spins = 0;; spins++) {
    int done = 0;
    int rc = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) return comm_mpi_fail(c, rc, what);
    if (done) return NN_OK;
    if (comm_expired(c, t0)) return comm_timeout_fail(c, what);
    if (spins > 1000) sched_yield(); /* long wait: let other ranks on the same cores run */
  }
}

/* Wait for one request started just now. */
static nn_status wait1(struct comm *c, int rc, MPI_Request *r, const char *what) {
  if (rc != MPI_SUCCESS) return comm_mpi_fail(c, rc, what);
  return comm_wait_all(c, 1, r, MPI_Wtime(), what);
}

/* ---- start-up ---- */

/* Usable cores of this node / ranks on it, capped by this rank's own affinity mask. */
static nn_status default_threads(struct comm *c) {
  cpu_set_t mine, node;
  CPU_ZERO(&mine);
  if (sched_getaffinity(0, sizeof mine, &mine) != 0 || CPU_COUNT(&mine) == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (long i = 0; i < n && i < CPU_SETSIZE; i++) CPU_SET(i, &mine);
  }
  /* union of the ranks' masks on this node = the cores the node's ranks may use */
  enum { WORDS = sizeof(cpu_set_t) / sizeof(unsigned long) };
  unsigned long w[WORDS];
  memcpy(w, &mine, sizeof w);
  int rc = MPI_Allreduce(MPI_IN_PLACE, w, WORDS, MPI_UNSIGNED_LONG, MPI_BOR, c->node);
  if (rc != MPI_SUCCESS) return comm_mpi_fail(c, rc, "allreduce of the node's CPU affinity masks");
  memcpy(&node, w, sizeof w);
  int share = CPU_COUNT(&node) / c->local_size, own = CPU_COUNT(&mine);
  c->default_threads = share < own ? share : own;
  if (c->default_threads < 1) c->default_threads = 1;
  return NN_OK;
}

/* Rank, size, node communicator and thread default of c from its world communicator. */
static nn_status comm_fill(struct comm *c) {
  MPI_Comm_set_errhandler(c->world, MPI_ERRORS_RETURN);
  MPI_Comm_rank(c->world, &c->rank);
  MPI_Comm_size(c->world, &c->size);
  int rc = MPI_Comm_split_type(c->world, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &c->node);
  if (rc != MPI_SUCCESS) return comm_mpi_fail(c, rc, "MPI_Comm_split_type (ranks of this node)");
  MPI_Comm_set_errhandler(c->node, MPI_ERRORS_RETURN);
  MPI_Comm_rank(c->node, &c->local_rank);
  MPI_Comm_size(c->node, &c->local_size);
  return default_threads(c);
}

nn_status comm_split(const struct comm *parent, int color, struct comm *out) {
  memset(out, 0, sizeof *out);
  out->world = out->node = MPI_COMM_NULL;
  out->timeout_s = parent->timeout_s;
  out->thread_level = parent->thread_level;
  int rc = MPI_Comm_split(parent->world, color, parent->rank, &out->world);
  if (rc != MPI_SUCCESS) return comm_mpi_fail(parent, rc, "MPI_Comm_split (sweep groups)");
  NN_TRY(comm_fill(out));
  /* the groups run side by side: a rank's share of the node's cores counts every group's ranks there */
  out->default_threads = parent->default_threads;
  return NN_OK;
}

nn_status comm_gather_bytes(struct comm *c, const void *send, int bytes, void *recv, int root) {
  MPI_Request r;
  return wait1(c, MPI_Igather(send, bytes, MPI_BYTE, recv, bytes, MPI_BYTE, root, c->world, &r), &r, "gather");
}

nn_status comm_init(struct comm *c, int *argc, char ***argv) {
  memset(c, 0, sizeof *c);
  c->world = c->node = MPI_COMM_NULL;
  c->timeout_s = COMM_DEFAULT_TIMEOUT_S;
  int inited = 0, rc;
  MPI_Initialized(&inited);
  if (!inited) {
    rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &c->thread_level);
    if (rc != MPI_SUCCESS) return nn_fail(NN_ERR_MPI, "MPI_Init_thread failed (code %d)", rc);
    c->owns_mpi = 1;
  } else {
    MPI_Query_thread(&c->thread_level);
  }
  rc = MPI_Comm_dup(MPI_COMM_WORLD, &c->world);
  if (rc != MPI_SUCCESS) return nn_fail(NN_ERR_MPI, "MPI_Comm_dup of MPI_COMM_WORLD failed (code %d)", rc);
  return comm_fill(c);
}

void comm_finalize(struct comm *c) {
  if (c->node != MPI_COMM_NULL) MPI_Comm_free(&c->node);
  if (c->world != MPI_COMM_NULL) MPI_Comm_free(&c->world);
  int fin = 0;
  MPI_Finalized(&fin);
  if (c->owns_mpi && !fin) MPI_Finalize();
  c->owns_mpi = 0;
}

void comm_abort(struct comm *c, int code) {
  fflush(stdout);
  fflush(stderr);
  int inited = 0, fin = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&fin);
  (void)c;
  if (inited && !fin) MPI_Abort(MPI_COMM_WORLD, code);
  exit(code); /* MPI not running (or MPI_Abort returned) */
}

int comm_default_threads(const struct comm *c) {
  return c->default_threads > 0 ? c->default_threads : 1;
}

/* ---- bounded collectives ---- */

nn_status comm_bcast(struct comm *c, void *buf, int64_t bytes, int root) {
  char what[96];
  snprintf(what, sizeof what, "broadcast of %.1f MB from rank %d", (double)bytes / (1 << 20), root);
  for (int64_t off = 0; off < bytes; off += COMM_CHUNK) {
    int64_t n = bytes - off < COMM_CHUNK ? bytes - off : COMM_CHUNK;
    MPI_Request r;
    int rc = MPI_Ibcast((char *)buf + off, (int)n, MPI_BYTE, root, c->world, &r);
    NN_TRY(wait1(c, rc, &r, what));
  }
  return NN_OK;
}

nn_status comm_allreduce_double(struct comm *c, double *x, int n) {
  char what[64];
  snprintf(what, sizeof what, "allreduce of %d double%s", n, n == 1 ? "" : "s");
  MPI_Request r;
  int rc = MPI_Iallreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, c->world, &r);
  return wait1(c, rc, &r, what);
}

nn_status comm_allreduce_float_sum(struct comm *c, float *x, int64_t n) {
  char what[64];
  snprintf(what, sizeof what, "allreduce of %lld floats", (long long)n);
  for (int64_t off = 0; off < n; off += COMM_CHUNK) {
    int64_t k = n - off < COMM_CHUNK ? n - off : COMM_CHUNK;
    MPI_Request r;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, x + off, (int)k, MPI_FLOAT, MPI_SUM, c->world, &r);
    NN_TRY(wait1(c, rc, &r, what));
  }
  return NN_OK;
}

nn_status comm_barrier(struct comm *c) {
  MPI_Request r;
  int rc = MPI_Ibarrier(c->world, &r);
  return wait1(c, rc, &r, "barrier");
}

nn_status comm_any_error(struct comm *c, nn_status local, nn_status *global) {
  int v = (int)local;
  MPI_Request r;
  int rc = MPI_Iallreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, c->world, &r);
  NN_TRY(wait1(c, rc, &r, "agreement on errors (allreduce max)"));
  *global = (nn_status)v;
  return NN_OK;
}

/* ---- replica checksums ---- */

struct checksum {
  uint64_t hash; /* FNV-1a over the bit patterns, four interleaved lanes */
  double sum;
  int64_t n;
};

static struct checksum checksum_of(const float *x, int64_t n) {
  const uint32_t *w = (const uint32_t *)x;
  uint64_t h[4] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull, 0x9ce484222325cbf2ull, 0x2325cbf29ce48422ull};
  double s = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; l++) {
      h[l] = (h[l] ^ w[i + l]) * 0x100000001b3ull;
      s += x[i + l];
    }
  for (; i < n; i++) {
    h[0] = (h[0] ^ w[i]) * 0x100000001b3ull;
    s += x[i];
  }
  struct checksum k = {h[0] ^ (h[1] * 31) ^ (h[2] * 961) ^ (h[3] * 29791), s, n};
  return k;
}

nn_status comm_check_replicas(struct comm *c, const float *x, int64_t n, int64_t step) {
  struct checksum mine = checksum_of(x, n), *all = malloc(sizeof mine * (size_t)c->size);
  if (!all) return nn_fail(NN_ERR_OOM, "rank %d: out of memory checking replicas", c->rank);
  MPI_Request r;
  int rc = MPI_Iallgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, c->world, &r);
  nn_status s = wait1(c, rc, &r, "allgather of parameter checksums");
  if (s != NN_OK) {
    free(all);
    return s;
  }
  char ranks[256] = "";
  int bad = 0, len = 0, first = -1;
  for (int q = 1; q < c->size; q++)
    if (memcmp(&all[q], &all[0], sizeof mine) != 0) {
      if (first < 0) first = q;
      if (len < (int)sizeof ranks - 16)
        len += snprintf(ranks + len, sizeof ranks - (size_t)len, "%s%d", bad ? ", " : "", q);
      bad++;
    }
  if (bad)
    s = nn_fail(NN_ERR_STATE,
                "replicas differ at step %lld: rank%s %s differ%s from rank 0 (%lld parameters, "
                "sum %.9g on rank 0, %.9g on rank %d)",
                (long long)step, bad > 1 ? "s" : "", ranks, bad > 1 ? "" : "s", (long long)all[0].n,
                all[0].sum, all[first].sum, first);
  free(all);
  return s;
}
