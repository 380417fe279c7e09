/* mpirun suite of ckpt: round trip of every buffer on the same rank count, resume on another rank
 * count (every writer count 1..size against every reader count 1..size, using sub-communicators),
 * keep pruning and `latest`, and `--resume auto` falling back past a corrupt, truncated or
 * incomplete checkpoint and ignoring a killed writer's temporary directory. Every rank runs every
 * test; CU_ASSERT (never _FATAL) keeps the collectives in step. The exit code is non-zero when any
 * rank failed. */
/* ctest-np: 1 2 3 */
#include "mpi_cunit.h"
#include <CUnit/Basic.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ckpt_common.h"
#include "comm.h"

static struct comm C;
static char ROOT[256];

#define BIG 1300001 /* the big parameter: > one 1M-element chunk per shard at np=1 */

/* The ranks with color 0 in a group of their own (out->world == MPI_COMM_NULL elsewhere). Collective. */
static void sub_comm(struct comm *out, int color) {
  memset(out, 0, sizeof *out);
  MPI_Comm_split(C.world, color ? MPI_UNDEFINED : 0, C.rank, &out->world);
  out->node = MPI_COMM_NULL;
  out->timeout_s = C.timeout_s;
  if (out->world == MPI_COMM_NULL) return;
  MPI_Comm_set_errhandler(out->world, MPI_ERRORS_RETURN);
  MPI_Comm_rank(out->world, &out->rank);
  MPI_Comm_size(out->world, &out->size);
}

static void sub_free(struct comm *c) {
  if (c->world != MPI_COMM_NULL) MPI_Comm_free(&c->world);
}

/* ROOT/name/step_%08lld into out. */
static void step_dir(char *out, size_t len, const char *name, int64_t step) {
  snprintf(out, len, "%s/%s/step_%08lld", ROOT, name, (long long)step);
}

/* Save the test model with Adam state filled with key, over c, to ROOT/name at step. */
static nn_status save(struct comm *c, const char *name, int64_t step, uint32_t key, int keep) {
  struct nn_params P;
  struct nn_optim o;
  char dir[512];
  snprintf(dir, sizeof dir, "%s/%s", ROOT, name);
  ck_model(&P, BIG, 0);
  ck_adam(&o, &P);
  ck_fill(&P, &o, key);
  struct ckpt_state s = ck_state(step);
  nn_status st = ckpt_save(c, dir, &s, &P, &o, keep);
  nn_optim_free(&o);
  nn_params_free(&P);
  return st;
}

/* Load path over c into a fresh model; check every value against key and the state against step. */
static nn_status load_check(struct comm *c, const char *path, uint32_t key, int64_t step, int writers) {
  struct nn_params P;
  struct nn_optim o;
  ck_model(&P, BIG, 0);
  ck_adam(&o, &P);
  struct ckpt_state s, want = ck_state(step);
  memset(&s, 0, sizeof s);
  snprintf(s.model, sizeof s.model, "tiny");
  nn_status st = ckpt_load(c, path, &s, &P, &o);
  CU_ASSERT_EQUAL(st, NN_OK);
  if (st == NN_OK) {
    int64_t bad = ck_diff(&P, &o, key);
    if (bad) printf("rank %d: %lld values differ loading %s\n", C.rank, (long long)bad, path);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(ck_state_eq(&s, &want));
    CU_ASSERT_EQUAL(s.nranks, writers);
  } else {
    printf("rank %d: %s\n", C.rank, nn_errmsg());
  }
  nn_optim_free(&o);
  nn_params_free(&P);
  return st;
}

static void test_roundtrip_same_ranks(void) {
  char path[600];
  CU_ASSERT_EQUAL(save(&C, "same", 3, 1, 0), NN_OK);
  step_dir(path, sizeof path, "same", 3);
  load_check(&C, path, 1, 3, C.size);
  if (C.rank == 0) { /* one shard per rank */
    char shard[700];
    struct stat sb;
    snprintf(shard, sizeof shard, "%s/shard-%05d-of-%05d.h5", path, C.size - 1, C.size);
    CU_ASSERT_EQUAL(stat(shard, &sb), 0);
  }
}

static void test_other_rank_counts(void) {
  for (int w = 1; w <= C.size; w++) {
    char name[32], path[600];
    snprintf(name, sizeof name, "w%d", w);
    struct comm wc;
    sub_comm(&wc, C.rank >= w);
    if (wc.world != MPI_COMM_NULL) CU_ASSERT_EQUAL(save(&wc, name, 100 + w, 10 + (uint32_t)w, 0), NN_OK);
    sub_free(&wc);
    comm_barrier(&C);
    step_dir(path, sizeof path, name, 100 + w);
    for (int r = 1; r <= C.size; r++) {
      struct comm rc;
      sub_comm(&rc, C.rank >= r);
      if (rc.world != MPI_COMM_NULL) load_check(&rc, path, 10 + (uint32_t)w, 100 + w, w);
      sub_free(&rc);
    }
  }
}

static void test_keep_and_latest(void) {
  for (int k = 1; k <= 4; k++) CU_ASSERT_EQUAL(save(&C, "keep", 10 * k, (uint32_t)k, 2), NN_OK);
  if (C.rank == 0) {
    char p[600], link[64] = "", lp[600];
    struct stat sb;
    for (int k = 1; k <= 4; k++) {
      step_dir(p, sizeof p, "keep", 10 * k);
      CU_ASSERT_EQUAL(stat(p, &sb) == 0, k >= 3);
    }
    snprintf(lp, sizeof lp, "%s/keep/latest", ROOT);
    CU_ASSERT(readlink(lp, link, sizeof link - 1) > 0);
    CU_ASSERT_STRING_EQUAL(link, "step_00000040");
  }
  char out[600], want[600], dir[512];
  snprintf(dir, sizeof dir, "%s/keep", ROOT);
  step_dir(want, sizeof want, "keep", 40);
  CU_ASSERT_EQUAL(ckpt_resolve(&C, dir, 1, out, sizeof out), NN_OK);
  CU_ASSERT_STRING_EQUAL(out, want);
}

/* Resolve auto over ROOT/fb must give step `want` on every rank. */
static void expect_auto(int64_t want) {
  char out[600] = "", w[600], dir[512];
  snprintf(dir, sizeof dir, "%s/fb", ROOT);
  step_dir(w, sizeof w, "fb", want);
  CU_ASSERT_EQUAL(ckpt_resolve(&C, dir, 1, out, sizeof out), NN_OK);
  CU_ASSERT_STRING_EQUAL(out, w);
}

/* Shard r of ROOT/fb/step. */
static void fb_shard(char *out, size_t len, int64_t step, int r) {
  char d[600];
  step_dir(d, sizeof d, "fb", step);
  snprintf(out, len, "%s/shard-%05d-of-%05d.h5", d, r, C.size);
}

static void test_auto_fallback(void) {
  char shard[700], cmd[1600];
  CU_ASSERT_EQUAL(save(&C, "fb", 1, 1, 0), NN_OK);
  CU_ASSERT_EQUAL(save(&C, "fb", 2, 2, 0), NN_OK);
  expect_auto(2);
  /* a flipped byte in the last rank's shard: a checksum error found by that rank */
  fb_shard(shard, sizeof shard, 2, C.size - 1);
  if (C.rank == 0) CU_ASSERT_EQUAL(ck_flip_byte(shard, "opt_m"), 0);
  comm_barrier(&C);
  expect_auto(1);
  char p2[600];
  step_dir(p2, sizeof p2, "fb", 2);
  struct nn_params P;
  struct nn_optim o;
  struct ckpt_state s;
  ck_model(&P, BIG, 0);
  ck_adam(&o, &P);
  memset(&s, 0, sizeof s);
  CU_ASSERT_NOT_EQUAL(ckpt_load(&C, p2, &s, &P, &o), NN_OK); /* every rank fails, naming the shard */
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), shard));
  nn_optim_free(&o);
  nn_params_free(&P);
  /* a truncated shard */
  CU_ASSERT_EQUAL(save(&C, "fb", 3, 3, 0), NN_OK);
  fb_shard(shard, sizeof shard, 3, 0);
  if (C.rank == 0) CU_ASSERT_EQUAL(truncate(shard, 3000), 0);
  comm_barrier(&C);
  expect_auto(1);
  /* metadata without one of its shards */
  CU_ASSERT_EQUAL(save(&C, "fb", 4, 4, 0), NN_OK);
  fb_shard(shard, sizeof shard, 4, C.size / 2);
  if (C.rank == 0) CU_ASSERT_EQUAL(unlink(shard), 0);
  comm_barrier(&C);
  expect_auto(1);
  /* a killed writer's temporary directory, newer than everything */
  if (C.rank == 0) {
    snprintf(cmd, sizeof cmd, "cp -r %s/fb/step_00000001 %s/fb/step_00000009.tmp", ROOT, ROOT);
    CU_ASSERT_EQUAL(system(cmd), 0);
  }
  comm_barrier(&C);
  expect_auto(1);
  char p1[600];
  step_dir(p1, sizeof p1, "fb", 1);
  load_check(&C, p1, 1, 1, C.size);
  CU_ASSERT_EQUAL(save(&C, "fb", 5, 5, 0), NN_OK);
  expect_auto(5);
}

int main(int argc, char **argv) {
  if (comm_init(&C, &argc, &argv) != NN_OK) {
    fprintf(stderr, "%s\n", nn_errmsg());
    return 1;
  }
  C.timeout_s = 120; /* a broken collective fails the test instead of hanging it */
  if (C.rank == 0) {
    snprintf(ROOT, sizeof ROOT, "/tmp/mpi_ckpt_XXXXXX");
    if (!mkdtemp(ROOT)) comm_abort(&C, 1);
  }
  if (comm_bcast(&C, ROOT, sizeof ROOT, 0) != NN_OK) comm_abort(&C, 1);
  if (CU_initialize_registry() != CUE_SUCCESS) comm_abort(&C, 1);
  CU_pSuite s = CU_add_suite("ckpt", NULL, NULL);
  CU_add_test(s, "round trip of every buffer and field on the same rank count", test_roundtrip_same_ranks);
  CU_add_test(s, "saved by 1..size ranks, loaded exactly on 1..size ranks", test_other_rank_counts);
  CU_add_test(s, "keep=2 leaves the 2 newest, latest points at the newest", test_keep_and_latest);
  CU_add_test(s, "auto skips corrupt / truncated / incomplete checkpoints and temporaries", test_auto_fallback);
  int failures = mpi_cunit_run(&C);
  if (C.rank == 0) {
    printf("\nmpi_ckpt: %d ranks, %s\n", C.size, failures ? "FAILED" : "all passed");
    if (failures) printf("files kept in %s\n", ROOT);
    else ck_rmrf(ROOT);
  }
  CU_cleanup_registry();
  comm_finalize(&C);
  return failures ? 1 : 0;
}
