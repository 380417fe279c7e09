/* The scratch-directory fixture of the unit suites that write files (test_datasets, test_data_aug): a fresh
 * temporary directory for the whole run (base), paths under it (P), a check on the last error message
 * (msg_has), and the suite runner (scratch_main: argv[1] filters tests by name; the directory is removed when
 * every test passed, kept and named otherwise). Header-only. */
#ifndef TEST_SCRATCH_H
#define TEST_SCRATCH_H
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "nn_status.h"

static char base[256]; /* the run's temporary directory */

/* name under base (256 rotating buffers: several may be live in one call) */
static inline const char *P(const char *name) {
  static char buf[256][600];
  static int k;
  k = (k + 1) % 256;
  snprintf(buf[k], sizeof buf[k], "%s/%s", base, name);
  return buf[k];
}

/* The last error message contains s (printed when not, to see what came instead). */
static inline int msg_has(const char *s) {
  if (strstr(nn_errmsg(), s)) return 1;
  printf("\n    message '%s' lacks '%s'\n", nn_errmsg(), s);
  return 0;
}

struct scratch_test {
  const char *name;
  void (*fn)(void);
};

/* Run the n tests as suite `suite` in a fresh /tmp/<suite>.XXXXXX; exit status for main. */
static inline int scratch_main(const char *suite, const struct scratch_test *tests, size_t n, int argc, char **argv) {
  snprintf(base, sizeof base, "/tmp/%s.XXXXXX", suite);
  if (!mkdtemp(base)) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite(suite, NULL, NULL);
  for (size_t i = 0; i < n; i++)
    if (argc < 2 || strstr(tests[i].name, argv[1])) CU_add_test(s, tests[i].name, tests[i].fn);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int fails = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", base);
  if (!fails && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", base);
  else if (fails) fprintf(stderr, "test files kept in %s\n", base);
  return fails ? 1 : 0;
}

#endif
