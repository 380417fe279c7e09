/* The sampler continues an epoch on another rank count without repeating or skipping examples. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>
#include "ds.h"

static void check_resume(int64_t n, int n1, int n2, int64_t batches, int64_t B) {
  char *seen = calloc((size_t)n, 1);
  int64_t *buf = malloc(sizeof(int64_t) * (size_t)n), got = 0, dup = 0;
  struct ds_sampler s;
  for (int r = 0; r < n1; r++) { /* n1 ranks take `batches` batches of B */
    ds_sampler_init(&s, n, r, n1, 7, 1, 1);
    ds_sampler_set_epoch(&s, 3);
    for (int64_t b = 0; b < batches; b++) {
      int64_t k = ds_sampler_next(&s, B, buf);
      for (int64_t i = 0; i < k; i++) dup += seen[buf[i]]++, got++;
    }
    CU_ASSERT_EQUAL(ds_sampler_consumed(&s), batches * B * n1);
    ds_sampler_free(&s);
  }
  int64_t consumed = batches * B * n1, total_after = 0;
  for (int r = 0; r < n2; r++) { /* n2 ranks finish the epoch */
    ds_sampler_init(&s, n, r, n2, 7, 1, 1);
    ds_sampler_resume(&s, 3, consumed);
    CU_ASSERT_EQUAL(s.per_rank, (n - consumed) / n2);
    int64_t k;
    while ((k = ds_sampler_next(&s, B, buf)) > 0)
      for (int64_t i = 0; i < k; i++) dup += seen[buf[i]]++, got++, total_after++;
    ds_sampler_set_epoch(&s, 4); /* the next epoch is whole again */
    CU_ASSERT_EQUAL(s.per_rank, n / n2);
    CU_ASSERT_EQUAL(s.start, 0);
    ds_sampler_free(&s);
  }
  CU_ASSERT_EQUAL(dup, 0);
  CU_ASSERT_EQUAL(total_after, (n - consumed) / n2 * n2); /* only the drop_last remainder is left out */
  CU_ASSERT(got >= n - n2);
  free(seen);
  free(buf);
}

static void test_2_to_3(void) { check_resume(1000, 2, 3, 3, 7); }
static void test_3_to_1(void) { check_resume(997, 3, 1, 5, 4); }
static void test_1_to_2(void) { check_resume(501, 1, 2, 10, 16); }

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("sampler resume", NULL, NULL);
  CU_add_test(s, "2 ranks -> 3 ranks", test_2_to_3);
  CU_add_test(s, "3 ranks -> 1 rank", test_3_to_1);
  CU_add_test(s, "1 rank -> 2 ranks", test_1_to_2);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int fails = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  return fails ? 1 : 0;
}
