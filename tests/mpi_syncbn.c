/* mpirun suite of synchronised batch norm (--sync-bn): ResNet-18 (cifar stem, small images) on
 * N ranks x batch B/N with the graph's reduction hook equals one process on batch B: logits,
 * every gradient (averaged over ranks as the gradient buckets do) and the updated running
 * statistics, to 1e-5; per-rank BN (no hook) does not; the running statistics are bitwise equal
 * on every rank. Each rank computes the one-process reference itself. */
/* ctest-np: 2 */
#include "mpi_cunit.h"
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "comm.h"
#include "model.h"
#include "nn.h"

static struct comm C;

#define BATCH 8 /* global batch (divisible by the rank count) */
#define IMG 8   /* 8x8 RGB images: stage 4 has 1x1 maps, m = 2 values per channel per rank */

static nn_status world_sum(void *ctx, double *x, int n) { return comm_allreduce_double(ctx, x, n); }

struct run {
  float *logits; /* rows of this run's batch */
  float *grad;   /* P->trainable */
  float *data;   /* P->total after the step's forward (running statistics updated) */
};

/* Forward + backward of examples [first, first + n) of the batch; the hook on or off. */
static void run_once(const struct model_def *def, void *model, struct nn_params *P, const float *init,
                     const uint8_t *pixels, const int32_t *labels, int64_t first, int64_t n, int hook,
                     struct run *out) {
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  if (hook) {
    g.reduce = world_sum;
    g.reduce_ctx = &C;
  }
  memcpy(P->data, init, sizeof(float) * (size_t)P->total);
  nn_params_zero_grad(P);
  struct ds_batch b = {.n = n, .pixels = (uint8_t *)pixels + first * 3 * IMG * IMG, .labels = (int32_t *)labels + first};
  struct model_out mo = {0};
  CU_ASSERT_EQUAL(def->forward(model, &g, P, &b, &mo), NN_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL(mo.loss);
  out->logits = malloc(sizeof(float) * (size_t)mo.logits->numel);
  memcpy(out->logits, mo.logits->data, sizeof(float) * (size_t)mo.logits->numel);
  CU_ASSERT_EQUAL(nn_backward(&g, mo.loss), NN_OK);
  out->grad = malloc(sizeof(float) * (size_t)P->trainable);
  memcpy(out->grad, P->grad, sizeof(float) * (size_t)P->trainable);
  out->data = malloc(sizeof(float) * (size_t)P->total);
  memcpy(out->data, P->data, sizeof(float) * (size_t)P->total);
  nn_graph_destroy(&g);
}

static void run_free(struct run *r) {
  free(r->logits);
  free(r->grad);
  free(r->data);
}

/* max |a - b| / max(1, max |b|) */
static double rel_diff(const float *a, const float *b, int64_t n) {
  double d = 0, m = 1;
  for (int64_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - b[i]);
    if (e > d) d = e;
    if (fabs(b[i]) > m) m = fabs(b[i]);
  }
  return d / m;
}

static void test_sync_equals_one_process(void) {
  const struct model_def *def = model_find("resnet18");
  CU_ASSERT_PTR_NOT_NULL_FATAL(def);
  struct cfg c;
  cfg_defaults(&c);
  strcpy(c.model, "resnet18");
  def->preset(&c);
  cfg_set(&c, "stem", "cifar", "test");
  struct ds_meta m = {.kind = DS_IMAGE, .c = 3, .h = IMG, .w = IMG, .nclasses = 10};
  struct nn_params P;
  nn_params_init(&P);
  void *model = NULL;
  CU_ASSERT_EQUAL_FATAL(def->build(&model, &c, &m, &P), NN_OK);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&P, &nn_cpu_backend), NN_OK);
  nn_params_reset(&P, 7);
  float *init = malloc(sizeof(float) * (size_t)P.total);
  memcpy(init, P.data, sizeof(float) * (size_t)P.total);
  uint8_t pixels[BATCH * 3 * IMG * IMG];
  int32_t labels[BATCH];
  uint32_t s = 12345;
  for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
  for (int i = 0; i < BATCH; i++) labels[i] = (i * 7) % 10;
  int64_t local = BATCH / C.size, first = C.rank * local;

  struct run ref, syn, own;
  run_once(def, model, &P, init, pixels, labels, 0, BATCH, 0, &ref);       /* one process, whole batch */
  run_once(def, model, &P, init, pixels, labels, first, local, 1, &syn);   /* N ranks, synchronised */
  run_once(def, model, &P, init, pixels, labels, first, local, 0, &own);   /* N ranks, per-rank BN */
  /* average the gradients over the ranks, as the gradient buckets do */
  CU_ASSERT_EQUAL(comm_allreduce_float_sum(&C, syn.grad, P.trainable), NN_OK);
  CU_ASSERT_EQUAL(comm_allreduce_float_sum(&C, own.grad, P.trainable), NN_OK);
  for (int64_t i = 0; i < P.trainable; i++) {
    syn.grad[i] /= (float)C.size;
    own.grad[i] /= (float)C.size;
  }
  double dl = rel_diff(syn.logits, ref.logits + first * 10, local * 10);
  double dg = rel_diff(syn.grad, ref.grad, P.trainable);
  double ds = rel_diff(syn.data, ref.data, P.total); /* parameters unchanged, running stats updated */
  double dl_own = rel_diff(own.logits, ref.logits + first * 10, local * 10);
  double dg_own = rel_diff(own.grad, ref.grad, P.trainable);
  if (C.rank == 0)
    printf("\n  sync-bn vs one process: logits %.2e, gradients %.2e, running stats %.2e; per-rank BN: logits %.2e, "
           "gradients %.2e\n", dl, dg, ds, dl_own, dg_own);
  CU_ASSERT(dl <= 1e-5);
  CU_ASSERT(dg <= 1e-5);
  CU_ASSERT(ds <= 1e-5);
  CU_ASSERT(dl_own > 1e-3 || dg_own > 1e-3); /* the test can tell the two apart */
  /* running statistics (the whole parameter buffer) bitwise equal on every rank */
  CU_ASSERT_EQUAL(comm_check_replicas(&C, syn.data, P.total, 0), NN_OK);
  run_free(&ref);
  run_free(&syn);
  run_free(&own);
  free(init);
  def->destroy(model);
  nn_params_free(&P);
}

int main(int argc, char **argv) {
  if (comm_init(&C, &argc, &argv) != NN_OK) {
    fprintf(stderr, "%s\n", nn_errmsg());
    return 1;
  }
  C.timeout_s = 60;
  nn_backend_set_threads(&nn_cpu_backend, 1);
  if (CU_initialize_registry() != CUE_SUCCESS) comm_abort(&C, 1);
  CU_pSuite s = CU_add_suite("syncbn", NULL, NULL);
  CU_add_test(s, "resnet18 sync-bn on N ranks = one process on the global batch (1e-5)", test_sync_equals_one_process);
  int failures = mpi_cunit_run(&C);
  if (C.rank == 0) printf("\nmpi_syncbn: %d ranks, %s\n", C.size, failures ? "FAILED" : "all passed");
  CU_cleanup_registry();
  comm_finalize(&C);
  return failures ? 1 : 0;
}
