/* mpirun suite of comm/: gradient buckets (layout, mean, both modes, timeouts), replica checks,
 * broadcast and the small collectives. Every rank runs every test; CU_ASSERT (never _FATAL) keeps
 * the ranks' collectives in step. The summary prints on rank 0; the exit code is non-zero when
 * any rank failed. */
/* ctest-np: 2 3 */
#include "mpi_cunit.h"
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "comm.h"
#include "nn.h"

static struct comm C;

/* Parameter sizes that divide neither the tiny cap (0.01 MB = 2621.44 floats) nor 2 or 3;
 * "frozen.w" sits in the middle of the declarations and has no gradient. */
static const int64_t SIZES[] = {7, 1, 1001, 2623, 5, 12289, 3, 2621, 1, 4099, 17};
#define NSIZES ((int)(sizeof SIZES / sizeof SIZES[0]))
#define CAP_MB 0.01
#define FIRST_MB 0.002 /* 524 floats */

static void make_params(struct nn_params *P) {
  nn_params_init(P);
  for (int i = 0; i < NSIZES; i++) {
    char name[32];
    snprintf(name, sizeof name, "p%d", i);
    nn_param_declare(P, name, 1, &SIZES[i], NN_INIT_ZEROS, 0, 1);
    if (i == NSIZES / 2) {
      int64_t n = 33;
      nn_param_declare(P, "frozen.w", 1, &n, NN_INIT_ZEROS, 0, 1);
    }
  }
  nn_params_freeze(P, "frozen");
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(P, &nn_cpu_backend), NN_OK);
}

/* The value rank r contributes to gradient element j. */
static float value(int r, int64_t j, int micro) {
  return (float)((r + 1) * 0.25 + (double)(j % 97) * 0.125 + micro * 0.5);
}

/* Fisher-Yates shuffle of 0..n-1 keyed by seed (each rank its own order). */
static void shuffle(int *a, int n, unsigned seed) {
  for (int i = 0; i < n; i++) a[i] = i;
  for (int i = n - 1; i > 0; i--) {
    seed = seed * 1103515245u + 12345u;
    int j = (int)((seed >> 8) % (unsigned)(i + 1)), t = a[i];
    a[i] = a[j], a[j] = t;
  }
}

/* Bucket i's [offset, end) for every rank, gathered. */
static void gather_ranges(struct comm_buckets *B, int64_t *all, int nb) {
  int64_t mine[2 * 64];
  for (int i = 0; i < nb; i++) comm_buckets_range(B, i, &mine[2 * i], &mine[2 * i + 1]);
  MPI_Allgather(mine, 2 * nb, MPI_INT64_T, all, 2 * nb, MPI_INT64_T, C.world);
}

/* Whether x is the first element of some trainable parameter (or the end of the buffer). */
static int param_boundary(const struct nn_params *P, int64_t x) {
  if (x == P->trainable) return 1;
  for (int i = 0; i < P->n; i++)
    if (P->p[i].trainable && P->p[i].offset == x) return 1;
  return 0;
}

static void test_bucket_layout(void) {
  struct nn_params P;
  make_params(&P);
  struct comm_buckets *B;
  CU_ASSERT_EQUAL_FATAL(comm_buckets_create(&B, &C, &P, CAP_MB, FIRST_MB, COMM_NONBLOCKING), NN_OK);
  int nb = comm_buckets_count(B);
  CU_ASSERT(nb > 4 && nb <= 64);
  int64_t off, n, end = P.trainable, cap = (int64_t)(CAP_MB * 1024 * 1024 / 4);
  for (int i = 0; i < nb; i++) {
    comm_buckets_range(B, i, &off, &n);
    CU_ASSERT_EQUAL(off + n, end); /* reverse declaration order, contiguous, no gaps */
    CU_ASSERT(param_boundary(&P, off)); /* never splits a parameter */
    int64_t limit = i == 0 ? (int64_t)(FIRST_MB * 1024 * 1024 / 4) : cap;
    int single = 0; /* a parameter larger than the limit gets a bucket of its own */
    for (int p = 0; p < P.n; p++) single |= P.p[p].trainable && P.p[p].offset == off && P.p[p].t.numel == n;
    CU_ASSERT(n <= limit || single);
    end = off;
  }
  CU_ASSERT_EQUAL(end, 0);
  comm_buckets_range(B, 0, &off, &n);
  CU_ASSERT(n * 4 <= FIRST_MB * 1024 * 1024); /* the last params are small: a small first bucket */
  CU_ASSERT_EQUAL(off + n, P.trainable);
  /* identical on every rank */
  int64_t all[2 * 64 * 8];
  if (C.size <= 8) {
    gather_ranges(B, all, nb);
    for (int r = 1; r < C.size; r++) CU_ASSERT(memcmp(all, all + 2 * nb * r, sizeof(int64_t) * 2 * nb) == 0);
  }
  comm_buckets_free(B);
  nn_params_free(&P);
}

/* One step of accumulation over two micro-batches; only the second communicates. Params are
 * signalled in a per-rank shuffled order and every fifth one is never signalled. */
static void step_and_check(struct comm_buckets *B, struct nn_params *P, int step, int call_begin) {
  nn_params_zero_grad(P);
  int order[64];
  for (int micro = 0; micro < 2; micro++) {
    if (micro == 1 && call_begin) comm_buckets_begin(B);
    for (int64_t j = 0; j < P->trainable; j++) P->grad[j] += value(C.rank, j, micro);
    shuffle(order, P->n, 1234u + 7u * (unsigned)C.rank + 31u * (unsigned)step);
    for (int k = 0; k < P->n; k++)
      if (order[k] % 5 != 4) comm_buckets_grad_ready(B, order[k]);
  }
  C.step = step;
  CU_ASSERT_EQUAL(comm_buckets_finish(B), NN_OK);
  int64_t bad = 0;
  for (int64_t j = 0; j < P->trainable; j++) {
    double want = 0;
    for (int r = 0; r < C.size; r++) want += (double)value(r, j, 0) + value(r, j, 1);
    want /= C.size;
    bad += fabs(P->grad[j] - want) > 1e-6 * fabs(want);
  }
  if (bad) printf("\nrank %d step %d: %lld of %lld gradient elements are not the mean\n", C.rank, step,
                  (long long)bad, (long long)P->trainable);
  CU_ASSERT_EQUAL(bad, 0);
}

static void check_mean(int mode) {
  struct nn_params P;
  make_params(&P);
  struct comm_buckets *B;
  CU_ASSERT_EQUAL_FATAL(comm_buckets_create(&B, &C, &P, CAP_MB, FIRST_MB, mode), NN_OK);
  for (int step = 0; step < 3; step++) step_and_check(B, &P, step, step != 2); /* step 2: no begin */
  struct comm_stats s;
  comm_buckets_stats(B, &s);
  CU_ASSERT_EQUAL(s.bytes, C.size > 1 ? 3 * P.trainable * 4 : 0);
  CU_ASSERT(s.wait_s >= 0 && s.comm_s >= 0);
  comm_buckets_free(B);
  nn_params_free(&P);
}
static void test_mean_nonblocking(void) { check_mean(COMM_NONBLOCKING); }
static void test_mean_thread(void) { check_mean(COMM_THREAD); }

/* Ranks other than 0 skip the collective: rank 0 must time out with a message naming the
 * bucket, the step and the collective; the others join late so no request is left behind. */
static void check_timeout(int mode) {
  if (C.size == 1) return;
  struct nn_params P;
  make_params(&P);
  struct comm_buckets *B;
  CU_ASSERT_EQUAL_FATAL(comm_buckets_create(&B, &C, &P, 100, 1, mode), NN_OK);
  double saved = C.timeout_s;
  C.step = 57;
  if (C.rank == 0) {
    C.timeout_s = 0.3;
    comm_buckets_begin(B);
    double t0 = MPI_Wtime();
    nn_status s = comm_buckets_finish(B);
    double t = MPI_Wtime() - t0;
    CU_ASSERT_EQUAL(s, NN_ERR_MPI);
    CU_ASSERT(t < 5);
    const char *m = nn_errmsg();
    CU_ASSERT(strstr(m, "rank 0: timed out after 0.3 s in allreduce of gradient bucket 0") != NULL);
    CU_ASSERT(strstr(m, "at step 57") != NULL);
    CU_ASSERT_EQUAL(comm_buckets_finish(B), NN_ERR_MPI); /* failure is sticky */
    C.timeout_s = saved;
  }
  CU_ASSERT_EQUAL(comm_barrier(&C), NN_OK);
  if (C.rank != 0) CU_ASSERT_EQUAL(comm_buckets_finish(B), NN_OK); /* matches rank 0's abandoned one */
  CU_ASSERT_EQUAL(comm_barrier(&C), NN_OK); /* rank 0 progresses it here */
  comm_buckets_free(B); /* failed on rank 0: leaked on purpose */
  if (C.rank != 0) nn_params_free(&P); /* rank 0's P may still be the target of the leaked request */
}
static void test_timeout_nonblocking(void) { check_timeout(COMM_NONBLOCKING); }
static void test_timeout_thread(void) { check_timeout(COMM_THREAD); }

static void test_check_replicas(void) {
  int64_t n = 100003;
  float *x = malloc(sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) x[i] = (float)sin((double)i);
  CU_ASSERT_EQUAL(comm_check_replicas(&C, x, n, 41), NN_OK);
  if (C.rank == C.size - 1 && C.size > 1) x[n / 2] = nextafterf(x[n / 2], 2.0f); /* one bit */
  nn_status s = comm_check_replicas(&C, x, n, 42);
  if (C.size > 1) {
    CU_ASSERT_EQUAL(s, NN_ERR_STATE);
    char want[64];
    snprintf(want, sizeof want, "rank %d differs from rank 0", C.size - 1);
    CU_ASSERT(strstr(nn_errmsg(), "at step 42") != NULL);
    CU_ASSERT(strstr(nn_errmsg(), want) != NULL);
  }
  free(x);
}

static void test_bcast(void) {
  int64_t n = (1 << 20) + 13;
  for (int root = 0; root < C.size; root += C.size > 1 ? C.size - 1 : 1) {
    unsigned char *b = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) b[i] = (unsigned char)(C.rank == root ? i * 7 + 3 : 0);
    CU_ASSERT_EQUAL(comm_bcast(&C, b, n, root), NN_OK);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += b[i] != (unsigned char)(i * 7 + 3);
    CU_ASSERT_EQUAL(bad, 0);
    free(b);
  }
}

static void test_small_collectives(void) {
  double x[3] = {C.rank, 1.5, -2};
  CU_ASSERT_EQUAL(comm_allreduce_double(&C, x, 3), NN_OK);
  CU_ASSERT_DOUBLE_EQUAL(x[0], C.size * (C.size - 1) / 2.0, 0);
  CU_ASSERT_DOUBLE_EQUAL(x[1], 1.5 * C.size, 0);
  CU_ASSERT_DOUBLE_EQUAL(x[2], -2.0 * C.size, 0);
  float f[1001];
  for (int i = 0; i < 1001; i++) f[i] = (float)(i + C.rank);
  CU_ASSERT_EQUAL(comm_allreduce_float_sum(&C, f, 1001), NN_OK);
  int bad = 0;
  for (int i = 0; i < 1001; i++) bad += f[i] != (float)(C.size * i + C.size * (C.size - 1) / 2);
  CU_ASSERT_EQUAL(bad, 0);
  nn_status g = NN_ERR_STATE;
  CU_ASSERT_EQUAL(comm_any_error(&C, NN_OK, &g), NN_OK);
  CU_ASSERT_EQUAL(g, NN_OK);
  CU_ASSERT_EQUAL(comm_any_error(&C, C.rank == C.size - 1 ? NN_ERR_IO : NN_OK, &g), NN_OK);
  CU_ASSERT_EQUAL(g, NN_ERR_IO);
  CU_ASSERT_EQUAL(comm_barrier(&C), NN_OK);
  CU_ASSERT(comm_default_threads(&C) >= 1);
  CU_ASSERT(C.local_rank >= 0 && C.local_rank < C.local_size && C.local_size <= C.size);
}

int main(int argc, char **argv) {
  if (comm_init(&C, &argc, &argv) != NN_OK) {
    fprintf(stderr, "%s\n", nn_errmsg());
    return 1;
  }
  C.timeout_s = 60; /* a broken collective fails the test instead of hanging it */
  if (CU_initialize_registry() != CUE_SUCCESS) comm_abort(&C, 1);
  CU_pSuite s = CU_add_suite("comm", NULL, NULL);
  CU_add_test(s, "bucket layout: reverse order, small first bucket, no split, same on all ranks", test_bucket_layout);
  CU_add_test(s, "bucketed allreduce = mean, shuffled/missing signals, accumulation (nonblocking)", test_mean_nonblocking);
  CU_add_test(s, "bucketed allreduce = mean, shuffled/missing signals, accumulation (thread)", test_mean_thread);
  CU_add_test(s, "timeout names bucket, step, collective (nonblocking)", test_timeout_nonblocking);
  CU_add_test(s, "timeout names bucket, step, collective (thread)", test_timeout_thread);
  CU_add_test(s, "check_replicas passes when equal, names step and rank when not", test_check_replicas);
  CU_add_test(s, "bcast from first and last rank", test_bcast);
  CU_add_test(s, "allreduce double/float, any_error, barrier, threads", test_small_collectives);
  int failures = mpi_cunit_run(&C);
  if (C.rank == 0) printf("\nmpi_comm: %d ranks (thread level %d), %s\n", C.size, C.thread_level,
                          failures ? "FAILED" : "all passed");
  CU_cleanup_registry();
  comm_finalize(&C);
  return failures ? 1 : 0;
}
