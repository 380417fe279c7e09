/* An HDF5 library without the Fletcher32 filter (simulated: linked with -Wl,--wrap=H5Pset_fletcher32,
 * see CMakeLists.txt, so the call fails as it does there): ckpt_save must fail with a message saying so,
 * never write checkpoints without checksums (main ignored H5Pset_fletcher32's return). */
#include <CUnit/Basic.h>
#include <unistd.h>
#include "ckpt_common.h"
#include "comm.h"

static struct comm C;

herr_t __wrap_H5Pset_fletcher32(hid_t plist);
herr_t __wrap_H5Pset_fletcher32(hid_t plist) {
  (void)plist;
  return -1;
}
static char ROOT[256];

static void test_no_fletcher(void) {
  struct nn_params P;
  struct nn_optim o;
  ck_model(&P, 3001, 0);
  ck_adam(&o, &P);
  ck_fill(&P, &o, 1);
  struct ckpt_state s = ck_state(1);
  nn_status st = ckpt_save(&C, ROOT, &s, &P, &o, 0);
  CU_ASSERT_NOT_EQUAL(st, NN_OK);
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "Fletcher32"));
  char p[512];
  snprintf(p, sizeof p, "%s/latest", ROOT);
  CU_ASSERT_NOT_EQUAL(access(p, F_OK), 0); /* nothing published */
  nn_optim_free(&o);
  nn_params_free(&P);
}

int main(int argc, char **argv) {
  if (comm_init(&C, &argc, &argv) != NN_OK) return 1;
  snprintf(ROOT, sizeof ROOT, "/tmp/test_nofl_XXXXXX");
  if (!mkdtemp(ROOT)) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("ckpt_nofletcher", NULL, NULL);
  CU_add_test(s, "no Fletcher32 filter: saving fails, saying so", test_no_fletcher);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int failures = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  ck_rmrf(ROOT);
  comm_finalize(&C);
  return failures ? 1 : 0;
}
