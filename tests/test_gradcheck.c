/* Every op on every backend (table-driven): each case is checked against central finite
 * differences on the reference backend (CPU, 1 thread), then run on every other available backend
 * (CPU with 3 threads: other chunk boundaries; CUDA when built) with its output and every input
 * gradient compared, element by element, with the reference. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>
#include "gradcheck/gradcheck.h"

static const struct gc_case *const tables[] = {
    gc_matmul, gc_binary, gc_act, gc_softmax, gc_loss, gc_layernorm, gc_embed, gc_dropout,
    gc_conv, gc_pool, gc_bnorm, gc_shape, gc_reduce, gc_attn, gc_rope, gc_rnn,
};
#define NTABLES (sizeof tables / sizeof tables[0])

/* Every op of enum nn_op has at least one case. */
static void test_every_op_has_a_case(void) {
  for (int op = 0; op < NN_OP_COUNT; op++) {
    int found = 0;
    for (size_t t = 0; t < NTABLES; t++)
      for (const struct gc_case *k = tables[t]; k->name; k++) found |= (int)k->op == op;
    if (!found) printf("\n  op %s has no gradient-check case", nn_op_name((enum nn_op)op));
    CU_ASSERT(found);
  }
}

#define GC_MAX_BACKENDS 4
static struct nn_backend *ref, *others[GC_MAX_BACKENDS];
static double tols[GC_MAX_BACKENDS];
static int nothers;

static const struct gc_case *current;
static void run_current(void) {
  CU_ASSERT_EQUAL(gc_run(current, ref, 1), 0);
  for (int b = 0; b < nothers; b++) CU_ASSERT_EQUAL(gc_compare(current, ref, others[b], tols[b], 1), 0);
}

/* The backends: the reference, a CPU instance with another thread count, and CUDA when built. */
static void open_backends(void) {
  NN_ASSERT(nn_backend_open("cpu", &(struct nn_backend_opts){.threads = 1}, &ref) == NN_OK, "%s", nn_errmsg());
  NN_ASSERT(nn_backend_open("cpu", &(struct nn_backend_opts){.threads = 3}, &others[nothers]) == NN_OK, "%s",
            nn_errmsg());
  tols[nothers++] = 1e-4; /* threads change only summation order */
  if (nn_backend_find("cuda")) {
    if (nn_backend_open("cuda", &(struct nn_backend_opts){.threads = 1}, &others[nothers]) == NN_OK)
      tols[nothers++] = 2e-3;
    else
      printf("gradcheck: cuda is built but does not open (%s): its cases are skipped\n", nn_errmsg());
  } else {
    printf("gradcheck: no CUDA backend in this build: cases run on cpu (1 and 3 threads) only\n");
  }
}

int main(int argc, char **argv) {
  const char *only = argc > 1 ? argv[1] : NULL; /* optional: run cases whose name starts with it */
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("gradcheck", NULL, NULL);
  CU_add_test(s, "every op has a case", test_every_op_has_a_case);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  open_backends();
  CU_basic_run_suite(s);
  int failures = (int)CU_get_number_of_failures();
  /* one CUnit test per case, run in turn (the case pointer is handed over through `current`) */
  int ncases = 0;
  for (size_t t = 0; t < NTABLES; t++)
    for (const struct gc_case *k = tables[t]; k->name; k++) {
      if (only && strncmp(k->name, only, strlen(only)) != 0) continue;
      CU_pSuite cs = CU_add_suite(k->name, NULL, NULL);
      CU_add_test(cs, k->name, run_current);
      current = k;
      CU_basic_run_suite(cs);
      failures += (int)CU_get_number_of_failures();
      ncases++;
    }
  printf("\ngradcheck: %d cases, %d failures\n", ncases, failures);
  CU_cleanup_registry();
  nn_backend_close(ref);
  for (int b = 0; b < nothers; b++) nn_backend_close(others[b]);
  return failures ? 1 : 0;
}
