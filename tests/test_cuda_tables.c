/* Kernel-table completeness, without a GPU: every entry the CPU table fills (memory functions, op
 * families, each kernel of a family) is filled in every other registered backend type (the CUDA
 * table in CUDA builds), so no op calls a NULL kernel on --device cuda; nn_backend_missing itself
 * is checked on tables with known holes, and nn_backend_open's refusal of an incomplete type. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>
#include "nn.h"
#include "ops/bnorm.h"
#include "ops/rnn_seq.h"

/* the CPU table against itself: nothing missing */
static void test_cpu_complete(void) {
  char buf[512];
  CU_ASSERT_EQUAL(nn_backend_missing(&nn_cpu_kernels, &nn_cpu_kernels, buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, "");
}

/* holes are found and named: a whole family, one kernel of a family, a memory function */
static void test_detects_holes(void) {
  static struct nn_kernels k; /* static: registered below, the registry keeps the pointer */
  static struct nn_k_bnorm bn;
  k = nn_cpu_kernels;
  bn = *nn_cpu_kernels.bnorm;
  bn.sums = NULL; /* kernel 3 of 4 */
  k.bnorm = &bn;
  k.rnn_seq = NULL;
  k.divide = NULL;
  char buf[512];
  CU_ASSERT_EQUAL(nn_backend_missing(&k, &nn_cpu_kernels, buf, sizeof buf), 3);
  printf("\n  missing: %s\n", buf);
  CU_ASSERT_PTR_NOT_NULL(strstr(buf, "rnn_seq (whole family)"));
  CU_ASSERT_PTR_NOT_NULL(strstr(buf, "bnorm (kernel 3 of 4)"));
  CU_ASSERT_PTR_NOT_NULL(strstr(buf, "divide"));
  CU_ASSERT_EQUAL(nn_backend_missing(&k, &nn_cpu_kernels, NULL, 0), 3);
  /* nn_backend_open refuses a type with holes, naming --device and the entries: registered as "cuda"
   * (the only other name it accepts), which it finds only in builds without the CUDA table */
  k.name = "cuda";
  k.open = NULL;
  k.close = NULL;
  CU_ASSERT_EQUAL(nn_backend_register(&k), 0);
  if (nn_backend_find("cuda") != &k) return; /* CUDA build: test_cuda_complete opens the real table */
  struct nn_backend *be = NULL;
  struct nn_backend_opts o = {.threads = 1};
  CU_ASSERT_EQUAL(nn_backend_open("cuda", &o, &be), NN_ERR_ARG);
  CU_ASSERT_PTR_NULL(be);
  printf("  open: %s\n", nn_errmsg());
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "--device"));
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "rnn_seq"));
}

/* the CUDA table (CUDA builds: linked and registered, no GPU needed to read it) */
static void test_cuda_complete(void) {
#ifdef ATTN_HAVE_CUDA
  const struct nn_kernels *cu = nn_backend_find("cuda");
#else
  const struct nn_kernels *cu = NULL; /* "cuda" here is test_detects_holes' table with holes */
#endif
  if (!cu) {
    printf("\n  this build has no CUDA backend: only the CPU table checked\n");
    return;
  }
  char buf[1024];
  int n = nn_backend_missing(cu, &nn_cpu_kernels, buf, sizeof buf);
  if (n) printf("\n  cuda lacks: %s\n", buf);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_EQUAL(cu->host_memory, 0);
  /* nn_backend_open passes its table check: it opens (GPU) or fails in the CUDA runtime (no GPU) */
  struct nn_backend *be = NULL;
  struct nn_backend_opts o = {.threads = 1};
  nn_status st = nn_backend_open("cuda", &o, &be);
  if (st != NN_OK) printf("\n  open: %s\n", nn_errmsg());
  CU_ASSERT(st == NN_OK || st == NN_ERR_CUDA);
  if (st != NN_OK) CU_ASSERT_PTR_NULL(strstr(nn_errmsg(), "lacks kernels"));
  nn_backend_close(be);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("cuda_tables", NULL, NULL);
  CU_add_test(s, "cpu table complete", test_cpu_complete);
  CU_add_test(s, "holes detected and refused by nn_backend_open", test_detects_holes);
  CU_add_test(s, "cuda table has every entry of the cpu table", test_cuda_complete);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int failures = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  return failures ? 1 : 0;
}
