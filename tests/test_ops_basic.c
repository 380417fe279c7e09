/* Direct value tests of the basic ops: dropout statistics, eval identity and per-sample keys,
 * activation values against double-precision formulas, shape ops and broadcasting. */
#include <CUnit/Basic.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "nn.h"

#define S NN_SHAPE
static struct nn_graph g;

/* A fresh step on the shared graph with a fixed seed/step. */
static void reset(void) {
  nn_graph_reset(&g);
  g.seed = 42;
  g.step = 3;
  g.sample_base = 0;
  g.sample_stride = 1;
  g.training = 1;
  g.grad_enabled = 1;
}

/* A float tensor with x[i] = f(i). */
static struct nn_tensor *ramp(int ndim, const int64_t *shape, float a, float b, int grad) {
  struct nn_tensor *t = nn_new(&g, NN_F32, ndim, shape);
  for (int64_t i = 0; i < t->numel; i++) t->data[i] = a + b * (float)i;
  t->requires_grad = grad;
  return t;
}

/* Dropout keeps about 1-p of the elements, scales them by 1/(1-p), and backward uses the mask. */
static void test_dropout_fraction(void) {
  reset();
  const float p = 0.3f;
  struct nn_tensor *x = ramp(2, S(4, 5000), 1.0f, 0.0f, 1);
  struct nn_tensor *y = nn_dropout(&g, x, p);
  CU_ASSERT_PTR_NOT_EQUAL(y, x);
  int64_t kept = 0, bad = 0;
  for (int64_t i = 0; i < y->numel; i++) {
    if (y->data[i] != 0.0f) {
      kept++;
      bad += fabsf(y->data[i] - 1.0f / (1.0f - p)) > 1e-6f;
    }
  }
  double frac = (double)kept / (double)y->numel; /* sd 0.0032 */
  CU_ASSERT(fabs(frac - (1.0 - p)) < 0.015);
  CU_ASSERT_EQUAL(bad, 0);
  float *seed = malloc(sizeof(float) * (size_t)y->numel);
  for (int64_t i = 0; i < y->numel; i++) seed[i] = 2.0f;
  CU_ASSERT_EQUAL(nn_backward_from(&g, y, seed), NN_OK);
  for (int64_t i = 0; i < y->numel; i++) bad += fabsf(x->grad[i] - (y->data[i] != 0.0f ? 2.0f / (1.0f - p) : 0.0f)) > 1e-6f;
  CU_ASSERT_EQUAL(bad, 0);
  free(seed);
  /* a second dropout of the same step draws another mask */
  struct nn_tensor *y2 = nn_dropout(&g, x, p);
  int64_t differ = 0;
  for (int64_t i = 0; i < y->numel; i++) differ += (y->data[i] != 0.0f) != (y2->data[i] != 0.0f);
  CU_ASSERT(differ > y->numel / 10);
}

/* In eval mode, or with p = 0, dropout is the identity and records nothing. */
static void test_dropout_eval(void) {
  reset();
  struct nn_tensor *x = ramp(2, S(3, 7), 0.5f, 1.0f, 1);
  g.training = 0;
  int64_t nodes = g.nnodes, calls = g.rng_calls;
  CU_ASSERT_PTR_EQUAL(nn_dropout(&g, x, 0.5f), x);
  g.training = 1;
  CU_ASSERT_PTR_EQUAL(nn_dropout(&g, x, 0.0f), x);
  CU_ASSERT_EQUAL(g.nnodes, nodes);
  CU_ASSERT_EQUAL(g.rng_calls, calls);
}

/* Row b of a batch dropped with (base, stride): masks keyed by the global sample index, so a
 * batch of 4 equals two interleaved batches of 2 (two ranks under a DistributedSampler). */
static void dropout_rows(float *out, int64_t rows, int64_t cols, int64_t base, int64_t stride) {
  reset();
  g.sample_base = base;
  g.sample_stride = stride;
  struct nn_tensor *y = nn_dropout(&g, ramp(2, S(rows, cols), 1.0f, 0.0f, 0), 0.5f);
  memcpy(out, y->data, sizeof(float) * (size_t)(rows * cols));
}

static void test_dropout_sample_keys(void) {
  enum { C = 37 };
  float full[4 * C], even[2 * C], odd[2 * C];
  dropout_rows(full, 4, C, 0, 1);
  dropout_rows(even, 2, C, 0, 2);
  dropout_rows(odd, 2, C, 1, 2);
  CU_ASSERT(memcmp(full + 0 * C, even + 0 * C, sizeof(float) * C) == 0);
  CU_ASSERT(memcmp(full + 2 * C, even + 1 * C, sizeof(float) * C) == 0);
  CU_ASSERT(memcmp(full + 1 * C, odd + 0 * C, sizeof(float) * C) == 0);
  CU_ASSERT(memcmp(full + 3 * C, odd + 1 * C, sizeof(float) * C) == 0);
  CU_ASSERT(memcmp(full + 0 * C, full + 1 * C, sizeof(float) * C) != 0); /* rows differ */
  /* the key of element (b, j) is (base + b * stride) * per + j */
  for (int b = 0; b < 4; b++)
    for (int j = 0; j < C; j++)
      CU_ASSERT_EQUAL(full[b * C + j] != 0.0f,
                      nn_dropout_keep(42, NN_RNG_STREAM_OPS, 3, (uint64_t)(b * C + j), 0.5f));
}

/* Activation values against the formulas evaluated in double, on a sweep of [-12, 12]. */
static void test_activation_values(void) {
  reset();
  enum { N = 2401 };
  struct nn_tensor *x = nn_new(&g, NN_F32, 1, S(N));
  for (int i = 0; i < N; i++) x->data[i] = -12.0f + 0.01f * (float)i;
  x->data[1200] = 0.0f;
  struct nn_tensor *y[6] = {nn_relu(&g, x),    nn_gelu_tanh(&g, x), nn_gelu_erf(&g, x),
                            nn_silu(&g, x),    nn_sigmoid(&g, x),   nn_tanh(&g, x)};
  int bad = 0;
  for (int i = 0; i < N; i++) {
    double v = x->data[i], ref[6];
    ref[0] = v > 0 ? v : 0;
    /* the gelu formulas in forms without cancellation for x << 0: 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)),
     * 1 + erf(z) = erfc(-z) */
    ref[1] = v / (1.0 + exp(-2.0 * sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    ref[2] = 0.5 * v * erfc(-v / sqrt(2.0));
    ref[3] = v / (1.0 + exp(-v));
    ref[4] = 1.0 / (1.0 + exp(-v));
    ref[5] = tanh(v);
    for (int k = 0; k < 6; k++) {
      int ok = fabs(y[k]->data[i] - ref[k]) <= 1e-6 * (1e-3 + fabs(ref[k]));
      if (!ok && bad++ < 5) printf("\n  act %d at %g: %.9g, expected %.9g", k, v, (double)y[k]->data[i], ref[k]);
    }
  }
  CU_ASSERT_EQUAL(bad, 0);
}

/* concat along dims 0 and 1 puts every input where it belongs. */
static void test_concat_values(void) {
  reset();
  struct nn_tensor *a = ramp(2, S(2, 2), 0.0f, 1.0f, 0), *b = ramp(2, S(2, 3), 10.0f, 1.0f, 0);
  struct nn_tensor *c = nn_concat(&g, 2, (struct nn_tensor *[]){a, b}, 1);
  static const float want1[] = {0, 1, 10, 11, 12, 2, 3, 13, 14, 15};
  CU_ASSERT(c->ndim == 2 && c->shape[0] == 2 && c->shape[1] == 5);
  CU_ASSERT(memcmp(c->data, want1, sizeof want1) == 0);
  struct nn_tensor *d = nn_concat(&g, 2, (struct nn_tensor *[]){b, b}, 0);
  CU_ASSERT(d->shape[0] == 4 && d->shape[1] == 3);
  CU_ASSERT(memcmp(d->data, b->data, sizeof(float) * 6) == 0 && memcmp(d->data + 6, b->data, sizeof(float) * 6) == 0);
  /* int64 ids concatenate too */
  struct nn_tensor *i = nn_new(&g, NN_I64, 2, S(1, 2)), *j = nn_new(&g, NN_I64, 2, S(1, 1));
  i->i64[0] = 5, i->i64[1] = (int64_t)1 << 40, j->i64[0] = -7;
  struct nn_tensor *k = nn_concat(&g, 2, (struct nn_tensor *[]){i, j}, -1);
  CU_ASSERT(k->dtype == NN_I64 && k->i64[0] == 5 && k->i64[1] == (int64_t)1 << 40 && k->i64[2] == -7);
}

/* permute and transpose move every element to its permuted index. */
static void test_permute_values(void) {
  reset();
  struct nn_tensor *x = ramp(3, S(2, 3, 4), 0.0f, 1.0f, 0);
  struct nn_tensor *y = nn_permute(&g, x, (const int[]){2, 0, 1}); /* y[c][a][b] = x[a][b][c] */
  CU_ASSERT(y->shape[0] == 4 && y->shape[1] == 2 && y->shape[2] == 3);
  int bad = 0;
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 3; b++)
      for (int c = 0; c < 4; c++) bad += y->data[(c * 2 + a) * 3 + b] != x->data[(a * 3 + b) * 4 + c];
  CU_ASSERT_EQUAL(bad, 0);
  struct nn_tensor *big = ramp(2, S(40, 33), 0.0f, 1.0f, 0), *t = nn_transpose(&g, big, 0, 1); /* tiled */
  for (int r = 0; r < 40; r++)
    for (int c = 0; c < 33; c++) bad += t->data[c * 40 + r] != big->data[r * 33 + c];
  CU_ASSERT_EQUAL(bad, 0);
}

/* narrow along dim 0 shares x's data; along other dims it copies the slice. */
static void test_narrow_reshape(void) {
  reset();
  struct nn_tensor *x = ramp(3, S(4, 3, 5), 0.0f, 1.0f, 0);
  struct nn_tensor *a = nn_narrow(&g, x, 0, 1, 2);
  CU_ASSERT_PTR_EQUAL(a->data, x->data + 15);
  CU_ASSERT(a->shape[0] == 2 && a->numel == 30);
  struct nn_tensor *b = nn_narrow(&g, x, 2, 3, 2);
  CU_ASSERT(b->shape[2] == 2 && b->data[0] == 3 && b->data[1] == 4 && b->data[2] == 8 && b->data[23] == 59);
  struct nn_tensor *r = nn_reshape(&g, x, 2, S(-1, 10));
  CU_ASSERT(r->shape[0] == 6 && r->shape[1] == 10 && r->data == x->data);
}

/* add/sub/mul broadcast b by numpy rules; sum_dim/mean_dim reduce the right dim. */
static void test_broadcast_reduce(void) {
  reset();
  struct nn_tensor *a = ramp(3, S(2, 3, 2), 0.0f, 1.0f, 0), *b = ramp(2, S(3, 1), 100.0f, 100.0f, 0);
  struct nn_tensor *s = nn_add(&g, a, b), *m = nn_mul(&g, a, b), *d = nn_sub(&g, a, b);
  int bad = 0;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 2; k++) {
        int o = (i * 3 + j) * 2 + k;
        float bv = 100.0f + 100.0f * (float)j;
        bad += s->data[o] != a->data[o] + bv || m->data[o] != a->data[o] * bv || d->data[o] != a->data[o] - bv;
      }
  CU_ASSERT_EQUAL(bad, 0);
  struct nn_tensor *sd = nn_sum_dim(&g, a, 1), *md = nn_mean_dim(&g, a, -1), *all = nn_mean(&g, a);
  CU_ASSERT(sd->ndim == 2 && sd->shape[0] == 2 && sd->shape[1] == 2);
  CU_ASSERT(sd->data[0] == 0 + 2 + 4 && sd->data[3] == 7 + 9 + 11);
  CU_ASSERT(md->shape[1] == 3 && md->data[0] == 0.5f && md->data[5] == 10.5f);
  CU_ASSERT(all->ndim == 0 && all->numel == 1 && all->data[0] == 5.5f);
}

/* An out-of-range id aborts with a message naming the id and V (checked in a child process). */
static void test_embedding_bad_id(void) {
  int fd[2];
  CU_ASSERT_FATAL(pipe(fd) == 0);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fd[1], 2);
    reset();
    struct nn_tensor *ids = nn_new(&g, NN_I32, 1, S(3)), *w = ramp(2, S(5, 4), 0.0f, 1.0f, 1);
    ids->i32[0] = 1, ids->i32[1] = 9, ids->i32[2] = 0;
    nn_embedding(&g, ids, w);
    _exit(0);
  }
  close(fd[1]);
  char msg[1024] = {0};
  size_t got = 0;
  ssize_t r;
  while (got < sizeof msg - 1 && (r = read(fd[0], msg + got, sizeof msg - 1 - got)) > 0) got += (size_t)r;
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
  CU_ASSERT(strstr(msg, "id 9") != NULL && strstr(msg, "V=5") != NULL);
}

int main(void) {
  nn_graph_init(&g, &nn_cpu_backend, 1 << 20);
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("ops_basic", NULL, NULL);
  CU_add_test(s, "dropout keeps 1-p and scales", test_dropout_fraction);
  CU_add_test(s, "dropout is the identity in eval", test_dropout_eval);
  CU_add_test(s, "dropout mask keyed by sample", test_dropout_sample_keys);
  CU_add_test(s, "activation values", test_activation_values);
  CU_add_test(s, "concat values", test_concat_values);
  CU_add_test(s, "permute values", test_permute_values);
  CU_add_test(s, "narrow and reshape", test_narrow_reshape);
  CU_add_test(s, "broadcast and reduce values", test_broadcast_reduce);
  CU_add_test(s, "embedding rejects a bad id", test_embedding_bad_id);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int failures = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  nn_graph_destroy(&g);
  return failures ? 1 : 0;
}
