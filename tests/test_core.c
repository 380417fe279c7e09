/* Unit tests of the core: arena, tape bookkeeping, parameter table, RNG, configuration. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cfg.h"
#include "nn.h"

static void test_arena_reuses_chunks(void) {
  struct nn_arena a;
  nn_arena_init(&a, 4096, NULL);
  for (int step = 0; step < 5; step++) {
    nn_arena_reset(&a);
    for (int i = 0; i < 50; i++) {
      void *p = nn_arena_alloc(&a, (size_t)(i * 37 + 1) * (i % 7 == 0 ? 300 : 1));
      CU_ASSERT_PTR_NOT_NULL_FATAL(p);
      CU_ASSERT_EQUAL((uintptr_t)p % 64, 0);
    }
    if (step == 0) continue;
  }
  int64_t after_first = a.heap_allocs;
  nn_arena_reset(&a);
  for (int i = 0; i < 50; i++) nn_arena_alloc(&a, (size_t)(i * 37 + 1) * (i % 7 == 0 ? 300 : 1));
  CU_ASSERT_EQUAL(a.heap_allocs, after_first);
  CU_ASSERT(a.peak >= a.used);
  nn_arena_destroy(&a);
}

/* nn_arena_free: a freed top lowers the bump pointer, other blocks become holes that coalesce and are
 * reused (best fit) before the arena grows; live blocks never overlap; a repeated alloc/free pattern
 * takes no new chunk after its first run. Checked against a byte-ownership map of the chunk. */
static void test_arena_free_list(void) {
  struct nn_arena a;
  nn_arena_init(&a, 1 << 16, NULL);
  void *p1 = nn_arena_alloc(&a, 1000), *p2 = nn_arena_alloc(&a, 1000), *p3 = nn_arena_alloc(&a, 1000);
  size_t used = a.used;
  CU_ASSERT_EQUAL(nn_arena_free(&a, p3, 1000), 0); /* top: the next block of that size comes back there */
  CU_ASSERT_PTR_EQUAL(nn_arena_alloc(&a, 1000), p3);
  CU_ASSERT_EQUAL(a.used, used);
  nn_arena_free(&a, p1, 1000); /* a hole, then its neighbour: one hole of 2048 bytes */
  nn_arena_free(&a, p2, 1000);
  CU_ASSERT_EQUAL(a.nholes, 1);
  CU_ASSERT_PTR_EQUAL(nn_arena_alloc(&a, 2000), p1); /* the merged hole serves a larger request */
  CU_ASSERT_EQUAL(a.nholes, 0);
  nn_arena_free(&a, p3, 1000); /* freeing the top swallows nothing more: p1's block is live */
  CU_ASSERT_PTR_EQUAL(nn_arena_alloc(&a, 64), p3);
  /* random pattern: ownership map over the one chunk, repeated to check the layout repeats */
  nn_arena_reset(&a);
  char *base = nn_arena_alloc(&a, 64);
  nn_arena_reset(&a);
  static unsigned char owner[1 << 16];
  int64_t chunks_after_first = 0;
  for (int rep = 0; rep < 3; rep++) {
    nn_arena_reset(&a);
    memset(owner, 0, sizeof owner);
    void *live[32] = {0};
    size_t sz[32] = {0};
    uint32_t h = 7;
    int bad = 0;
    for (int it = 0; it < 400; it++) {
      h = h * 1664525u + 1013904223u;
      int k = (int)(h >> 27);
      if (live[k]) {
        ptrdiff_t o = (char *)live[k] - base;
        if (o >= 0 && o + (ptrdiff_t)sz[k] <= (ptrdiff_t)sizeof owner)
          for (size_t j = 0; j < sz[k]; j++) bad |= owner[o + j] != k + 1, owner[o + j] = 0;
        CU_ASSERT_EQUAL(nn_arena_free(&a, live[k], sz[k]), 0);
        live[k] = NULL;
      } else {
        sz[k] = 1 + (h >> 8) % 1500;
        live[k] = nn_arena_alloc(&a, sz[k]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(live[k]);
        CU_ASSERT_EQUAL((uintptr_t)live[k] % 64, 0);
        ptrdiff_t o = (char *)live[k] - base;
        if (o < 0 || o + (ptrdiff_t)sz[k] > (ptrdiff_t)sizeof owner) continue; /* a second chunk: not mapped */
        for (size_t j = 0; j < sz[k]; j++) bad |= owner[o + j] != 0, owner[o + j] = (unsigned char)(k + 1);
      }
    }
    CU_ASSERT_FALSE(bad);
    if (rep == 0) chunks_after_first = a.heap_allocs;
  }
  CU_ASSERT_EQUAL(a.heap_allocs, chunks_after_first);
  CU_ASSERT(a.used <= 32 * 1536);
  nn_arena_destroy(&a);
}

/* nn_backward releases a node output's gradient once its producer has run (its consumers ran
 * before), keeps leaves' gradients, and with keep_grads keeps all: same leaf gradients either way. */
static void test_backward_releases_gradients(void) {
  float got[2][6];
  for (int keep = 0; keep < 2; keep++) {
    struct nn_graph g;
    nn_graph_init(&g, &nn_cpu_backend, 1 << 16);
    g.keep_grads = keep;
    struct nn_tensor *a = nn_new(&g, NN_F32, 2, NN_SHAPE(2, 3)), *b = nn_new(&g, NN_F32, 2, NN_SHAPE(3, 2));
    for (int i = 0; i < 6; i++) a->data[i] = (float)i * 0.5f - 1.0f, b->data[i] = (float)(i % 4) - 1.5f;
    a->requires_grad = b->requires_grad = 1;
    struct nn_tensor *c = nn_matmul(&g, a, b, 0, 0);  /* (2,2) */
    struct nn_tensor *d = nn_tanh(&g, c);
    struct nn_tensor *e = nn_mul(&g, d, c);            /* c used twice: its gradient sums two paths */
    struct nn_tensor *loss = nn_sum(&g, nn_add(&g, e, d));
    CU_ASSERT_EQUAL_FATAL(nn_backward(&g, loss), NN_OK);
    CU_ASSERT_PTR_NOT_NULL(a->grad);
    CU_ASSERT_PTR_NOT_NULL(b->grad);
    CU_ASSERT(keep ? c->grad != NULL : c->grad == NULL);
    if (!keep) CU_ASSERT(g.mem.used < g.mem.peak); /* something went back */
    memcpy(got[keep], a->grad, sizeof got[keep]);
    nn_graph_destroy(&g);
  }
  for (int i = 0; i < 6; i++) CU_ASSERT_EQUAL(got[0][i], got[1][i]);
}

static void test_params_layout_and_init(void) {
  struct nn_params P;
  nn_params_init(&P);
  int w = nn_declare_linear(&P, "enc.fc", 10, 4, 1);
  int e = nn_declare_embedding(&P, "emb", 7, 3);
  int ln = nn_declare_layernorm(&P, "head.ln", 4);
  int rm = nn_declare_buffer(&P, "bn.running_mean", 1, NN_SHAPE(4), NN_INIT_ZEROS);
  CU_ASSERT_EQUAL(nn_params_freeze(&P, "emb"), 1);
  CU_ASSERT_EQUAL(nn_params_alloc(&P, &nn_cpu_backend), NN_OK);
  /* trainable first in declaration order, then frozen and buffers */
  CU_ASSERT_EQUAL(P.p[w].offset, 0);
  CU_ASSERT_EQUAL(P.p[w + 1].offset, 40);
  CU_ASSERT_EQUAL(P.p[ln].offset, 44);
  CU_ASSERT_EQUAL(P.trainable, 40 + 4 + 4 + 4);
  CU_ASSERT(P.p[e].offset >= P.trainable && P.p[rm].offset >= P.trainable);
  CU_ASSERT_PTR_NULL(P.p[e].t.grad);
  CU_ASSERT_FALSE(P.p[e].t.requires_grad);
  CU_ASSERT_TRUE(P.p[w].t.requires_grad);
  CU_ASSERT_EQUAL(nn_params_find(&P, "head.ln.bias"), ln + 1);
  CU_ASSERT_EQUAL(nn_params_find(&P, "nope"), -1);
  nn_params_reset(&P, 42);
  float bound = 1.0f / sqrtf(10.0f), maxabs = 0;
  for (int64_t i = 0; i < 40; i++) maxabs = fmaxf(maxabs, fabsf(P.p[w].t.data[i]));
  CU_ASSERT(maxabs <= bound && maxabs > 0.5f * bound);
  for (int i = 0; i < 4; i++) {
    CU_ASSERT_EQUAL(P.p[ln].t.data[i], 1.0f);
    CU_ASSERT_EQUAL(P.p[ln + 1].t.data[i], 0.0f);
    CU_ASSERT_EQUAL(P.p[rm].t.data[i], 0.0f);
  }
  CU_ASSERT_FALSE(P.p[ln].decay);
  CU_ASSERT_TRUE(P.p[w].decay);
  CU_ASSERT_FALSE(P.p[w + 1].decay);
  /* same seed, same values; other seed, other values */
  float first = P.p[w].t.data[3];
  nn_params_reset(&P, 42);
  CU_ASSERT_EQUAL(P.p[w].t.data[3], first);
  nn_params_reset(&P, 43);
  CU_ASSERT_NOT_EQUAL(P.p[w].t.data[3], first);
  nn_params_free(&P);
}

static void test_rng(void) {
  double sum = 0, sq = 0;
  int n = 100000;
  for (int i = 0; i < n; i++) {
    float u = nn_rng_uniform(5, 1, 2, (uint64_t)i);
    CU_ASSERT(u >= 0.0f && u < 1.0f);
    sum += u;
    float z = nn_rng_normal(5, 1, 2, (uint64_t)i);
    sq += (double)z * z;
  }
  CU_ASSERT(fabs(sum / n - 0.5) < 0.01);
  CU_ASSERT(fabs(sq / n - 1.0) < 0.02);
  CU_ASSERT_EQUAL(nn_rng_u32(1, 2, 3, 4), nn_rng_u32(1, 2, 3, 4));
  CU_ASSERT_NOT_EQUAL(nn_rng_u32(1, 2, 3, 4), nn_rng_u32(1, 3, 3, 4));
  CU_ASSERT_NOT_EQUAL(nn_rng_u32(1, 2, 3, 4), nn_rng_u32(1, 2, 4, 4));
  CU_ASSERT_NOT_EQUAL(nn_rng_u32(1, 2, 3, 4), nn_rng_u32(2, 2, 3, 4));
}

/* The tape records only ops whose inputs need a gradient, and backward accumulates. */
static void test_tape_records_and_accumulates(void) {
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 1 << 16);
  struct nn_tensor *a = nn_new(&g, NN_F32, 2, NN_SHAPE(2, 3)), *b = nn_new(&g, NN_F32, 2, NN_SHAPE(3, 2));
  for (int i = 0; i < 6; i++) a->data[i] = (float)i, b->data[i] = 1.0f;
  nn_matmul(&g, a, b, 0, 0);
  CU_ASSERT_EQUAL(g.nnodes, 0); /* nothing needs a gradient */
  b->requires_grad = 1;
  struct nn_tensor *c = nn_matmul(&g, a, b, 0, 0);
  CU_ASSERT_EQUAL(g.nnodes, 1);
  const float seed[4] = {1, 1, 1, 1};
  CU_ASSERT_EQUAL(nn_backward_from(&g, c, seed), NN_OK);
  /* d(sum c)/db[k][j] = sum_i a[i][k] = column sums of a: 3, 5, 7 */
  CU_ASSERT_EQUAL(b->grad[0], 3.0f);
  CU_ASSERT_EQUAL(b->grad[2], 5.0f);
  CU_ASSERT_EQUAL(b->grad[5], 7.0f);
  CU_ASSERT_PTR_NULL(a->grad);
  nn_graph_destroy(&g);
}

static void test_cfg(void) {
  struct cfg c;
  cfg_defaults(&c);
  char *argv[] = {"x", "--model", "cnn", "--lr=0.5", "--log-dir", "runs/a", "--batch", "7"};
  int help;
  CU_ASSERT_EQUAL(cfg_parse_args(&c, 8, argv, 1, &help), NN_OK);
  CU_ASSERT_STRING_EQUAL(c.model, "cnn");
  CU_ASSERT_DOUBLE_EQUAL(c.lr, 0.5, 1e-12);
  CU_ASSERT_STRING_EQUAL(c.log_dir, "runs/a");
  CU_ASSERT_EQUAL(c.batch, 7);
  CU_ASSERT_TRUE(cfg_given(&c, "batch"));
  CU_ASSERT_FALSE(cfg_given(&c, "seed"));
  char *bad1[] = {"x", "--bogus", "1"};
  CU_ASSERT_EQUAL(cfg_parse_args(&c, 3, bad1, 1, &help), NN_ERR_ARG);
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "--bogus"));
  char *bad2[] = {"x", "--batch", "ten"};
  CU_ASSERT_EQUAL(cfg_parse_args(&c, 3, bad2, 1, &help), NN_ERR_ARG);
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "batch"));
  char *bad3[] = {"x", "--batch", "-3"};
  CU_ASSERT_EQUAL(cfg_parse_args(&c, 3, bad3, 1, &help), NN_ERR_ARG);
  char *bad4[] = {"x", "--optimizer", "lbfgs"};
  CU_ASSERT_EQUAL(cfg_parse_args(&c, 3, bad4, 1, &help), NN_ERR_ARG);
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "lbfgs"));
  char *bad5[] = {"x", "--lr"};
  CU_ASSERT_EQUAL(cfg_parse_args(&c, 2, bad5, 1, &help), NN_ERR_ARG);
  /* config file */
  char path[] = "/tmp/attn_test_cfg.XXXXXX"; /* a fresh file: parallel runs of the suite do not collide */
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  close(fd);
  FILE *f = fopen(path, "w");
  fprintf(f, "# comment\nmodel = cnn\nlr = 0.25  # trailing\n\nlog_dir = \"runs/b\"\n");
  fclose(f);
  cfg_defaults(&c);
  CU_ASSERT_EQUAL(cfg_load_file(&c, path), NN_OK);
  CU_ASSERT_DOUBLE_EQUAL(c.lr, 0.25, 1e-12);
  CU_ASSERT_STRING_EQUAL(c.log_dir, "runs/b");
  f = fopen(path, "w");
  fprintf(f, "lr = 0.25\nnot a line\n");
  fclose(f);
  CU_ASSERT_EQUAL(cfg_load_file(&c, path), NN_ERR_ARG);
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), ":2"));
  CU_ASSERT_EQUAL(cfg_load_file(&c, "/nonexistent/x.conf"), NN_ERR_IO);
  remove(path);
  /* JSON round trip (checkpoints carry the configuration this way) */
  struct cfg a, b;
  cfg_defaults(&a);
  char *args[] = {"x", "--model", "gpt", "--lr", "0.000125", "--log-dir", "runs/\"q\"", "--block", "64", "--attn", "seed"};
  CU_ASSERT_EQUAL(cfg_parse_args(&a, 11, args, 1, &help), NN_OK);
  char *json = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&json, &len);
  cfg_write_json(&a, m);
  fclose(m);
  cfg_defaults(&b);
  CU_ASSERT_EQUAL(cfg_load_json(&b, json, "test"), NN_OK);
  CU_ASSERT_STRING_EQUAL(b.model, "gpt");
  CU_ASSERT_STRING_EQUAL(b.log_dir, "runs/\"q\"");
  CU_ASSERT_DOUBLE_EQUAL(b.lr, 0.000125, 1e-12);
  CU_ASSERT_EQUAL(cfg_int(&b, "block"), 64);
  /* model keys (owned by the families) travel like general ones: values, defaults, given bits */
  CU_ASSERT_STRING_EQUAL(cfg_str(&b, "attn"), "seed");
  CU_ASSERT_EQUAL(cfg_int(&b, "heads"), 4);
  CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"n_embd\": 0"));
  CU_ASSERT(cfg_given(&b, "block") && !cfg_given(&a, "n_embd"));
  cfg_preset_int(&b, "block", 128); /* non-zero: kept */
  cfg_preset_int(&b, "n_embd", 96);  /* 0 = preset: set */
  CU_ASSERT(cfg_int(&b, "block") == 64 && cfg_int(&b, "n_embd") == 96);
  CU_ASSERT_EQUAL(cfg_set(&b, "attn", "global", "test"), NN_ERR_ARG);
  free(json);
  CU_ASSERT_EQUAL(cfg_load_json(&b, "{\"model\": ", "test"), NN_ERR_FORMAT);
  /* a retired key: ignored in the JSON of older checkpoints, refused as an option */
  CU_ASSERT_EQUAL(cfg_load_json(&b, "{\"deterministic\": 1, \"lr\": 0.5}", "test"), NN_OK);
  CU_ASSERT_DOUBLE_EQUAL(b.lr, 0.5, 1e-12);
  CU_ASSERT_EQUAL(cfg_set(&b, "deterministic", "1", "test"), NN_ERR_ARG);
}

/* nn_backend_open: cpu instances carry their thread count; cuda is refused, naming the flag, in a
 * build without it; malformed device names are refused. */
static void test_backend_open(void) {
  struct nn_backend *be = NULL;
  CU_ASSERT_EQUAL_FATAL(nn_backend_open("cpu", &(struct nn_backend_opts){.threads = 2}, &be), NN_OK);
  CU_ASSERT_STRING_EQUAL(be->k->name, "cpu");
  CU_ASSERT_EQUAL(be->threads, 2);
  CU_ASSERT(be->k->host_memory);
  float x[3] = {1, 2, 3}, *d = nn_be_alloc(be, sizeof x), h[3];
  nn_be_to_device(be, d, x, sizeof x);
  nn_be_divide(be, d, 2.0f, 3);
  nn_be_to_host(be, h, d, sizeof h);
  CU_ASSERT(h[0] == 0.5f && h[1] == 1.0f && h[2] == 1.5f);
  nn_be_free(be, d);
  nn_backend_close(be);
  if (!nn_backend_find("cuda")) {
    CU_ASSERT_EQUAL(nn_backend_open("cuda", NULL, &be), NN_ERR_ARG);
    CU_ASSERT_PTR_NULL(be);
    CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "option --device: cuda: this build has no CUDA backend"));
    CU_ASSERT_EQUAL(nn_backend_open("cuda:1", NULL, &be), NN_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "cuda:1"));
  }
  const char *bad[] = {"gpu", "cuda:", "cuda:x", "cpu:0", "cuda:-1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CU_ASSERT_EQUAL(nn_backend_open(bad[i], NULL, &be), NN_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "option --device"));
  }
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("core", NULL, NULL);
  CU_add_test(s, "arena reuses chunks", test_arena_reuses_chunks);
  CU_add_test(s, "arena free list", test_arena_free_list);
  CU_add_test(s, "backward releases gradients", test_backward_releases_gradients);
  CU_add_test(s, "params layout and init", test_params_layout_and_init);
  CU_add_test(s, "rng", test_rng);
  CU_add_test(s, "tape records and accumulates", test_tape_records_and_accumulates);
  CU_add_test(s, "cfg", test_cfg);
  CU_add_test(s, "backend open", test_backend_open);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int fails = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  return fails ? 1 : 0;
}
