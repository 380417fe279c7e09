/* After the first step, a training loop (forward, backward, clipping, optimizer) makes no heap
 * allocation: malloc & co. are wrapped at link time (-Wl,--wrap) and counted, in the ASan build too
 * (__real_malloc is then AddressSanitizer's malloc). */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include "nn.h"

static long n_alloc;
#ifdef ATTN_WRAP_MALLOC
void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
int __real_posix_memalign(void **, size_t, size_t);
void *__wrap_malloc(size_t n) { n_alloc++; return __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { n_alloc++; return __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { n_alloc++; return __real_realloc(p, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { n_alloc++; return __real_posix_memalign(p, a, n); }
#endif

static void test_no_allocation_after_first_step(void) {
  const int64_t B = 4, T = 6, C = 8, V = 11;
  struct nn_params P;
  nn_params_init(&P);
  int emb = nn_declare_embedding(&P, "emb", V, C);
  int ln = nn_declare_layernorm(&P, "ln", C);
  int q = nn_declare_linear(&P, "q", C, C, 1), k = nn_declare_linear(&P, "k", C, C, 1);
  int v = nn_declare_linear(&P, "v", C, C, 1), head = nn_declare_linear(&P, "head", C, V, 0);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&P, &nn_cpu_backend), NN_OK);
  nn_params_reset(&P, 1);
  struct nn_optim opt;
  struct nn_optim_cfg oc = {.kind = NN_OPT_ADAMW, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
  CU_ASSERT_EQUAL_FATAL(nn_optim_init(&opt, &P, &oc), NN_OK);
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 4096); /* small chunks: the arena grows in step 1 */
  int32_t ids[4 * 6], tgt[4 * 6];
  for (int i = 0; i < B * T; i++) ids[i] = i % V, tgt[i] = (i * 7) % V;
  long after_first = 0;
  for (int step = 0; step < 6; step++) {
    nn_graph_reset(&g);
    g.step = step;
    struct nn_tensor *x = nn_new(&g, NN_I32, 2, NN_SHAPE(B, T)), *y = nn_new(&g, NN_I32, 2, NN_SHAPE(B, T));
    for (int i = 0; i < B * T; i++) x->i32[i] = ids[i], y->i32[i] = tgt[i];
    struct nn_tensor *h = nn_embedding(&g, x, nn_pt(&P, emb));
    struct nn_tensor *n = nn_layernorm(&g, h, nn_pt(&P, ln), nn_pt(&P, ln + 1), 1e-5f);
    struct nn_tensor *a = nn_attention(&g, nn_linear(&g, n, nn_pt(&P, q), nn_pt(&P, q + 1)),
                                       nn_linear(&g, n, nn_pt(&P, k), nn_pt(&P, k + 1)),
                                       nn_linear(&g, n, nn_pt(&P, v), nn_pt(&P, v + 1)), 2, 1, 0.1f);
    h = nn_dropout(&g, nn_gelu_tanh(&g, nn_add(&g, h, a)), 0.1f);
    struct nn_tensor *loss = nn_cross_entropy(&g, nn_linear(&g, h, nn_pt(&P, head), NULL), y, -100);
    nn_params_zero_grad(&P);
    CU_ASSERT_EQUAL_FATAL(nn_backward(&g, loss), NN_OK);
    nn_clip_grad_norm(&P, 1.0f);
    nn_optim_step(&opt, 1e-3f);
    if (step == 0) after_first = n_alloc;
  }
  CU_ASSERT(g.mem.heap_allocs > 1 && n_alloc > 0); /* the test exercised growth and counting */
  CU_ASSERT_EQUAL(n_alloc, after_first);
  if (n_alloc != after_first) printf("\n  %ld heap allocations after step 1\n", n_alloc - after_first);
  nn_graph_destroy(&g);
  nn_optim_free(&opt);
  nn_params_free(&P);
}

int main(void) {
#ifndef ATTN_WRAP_MALLOC
  printf("SKIP: test_alloc needs malloc wrapped at link time (-Wl,--wrap=malloc, see CMakeLists.txt)\n");
  return 77;
#endif
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("alloc", NULL, NULL);
  CU_add_test(s, "no heap allocation after the first step", test_no_allocation_after_first_step);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int fails = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  return fails ? 1 : 0;
}
