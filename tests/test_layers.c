/* The typed layers and scopes of src/nn_layers.c: names, shapes and declaration order as PyTorch,
 * batchnorm's buffers, nn_concat0, and the recurrent layers against torch.nn.LSTM / torch.nn.GRU
 * (fixture tests/ref/rnn.h5 from tests/ref/gen_rnn.py): output, final states and the gradient of
 * every input, initial state and parameter, multi-layer and bidirectional; inter-layer dropout;
 * step-by-step decoding with carried state == the whole sequence at once. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "fixture.h"
#include "nn.h"

#define TOL_OUT 1e-5  /* outputs and states (order 1) */
#define TOL_GRAD 1e-4 /* gradients: |got - ref| / (|ref| + FLOOR_FRAC * max|ref|) */
#define FLOOR_OUT 0.1
#define FLOOR_FRAC 1e-2

static hid_t fx = H5I_INVALID_HID;

static int suite_init(void) {
  fx = fx_open("rnn.h5");
  return fx < 0;
}
static int suite_clean(void) { return fx >= 0 ? H5Fclose(fx) < 0 : 0; }

/* ---- scopes and declarations ---- */

static void test_scopes(void) {
  struct nn_params P;
  nn_params_init(&P);
  struct nn_scope root = nn_scope_root(&P);
  struct nn_scope b = nn_scope_sub(root, "blocks.%d", 3);
  struct nn_scope a = nn_scope_sub(b, "attn");
  char name[NN_NAME_MAX];
  CU_ASSERT_STRING_EQUAL(b.name, "blocks.3");
  CU_ASSERT_STRING_EQUAL(a.name, "blocks.3.attn");
  nn_scope_name(name, a, "query");
  CU_ASSERT_STRING_EQUAL(name, "blocks.3.attn.query");
  nn_scope_name(name, a, NULL);
  CU_ASSERT_STRING_EQUAL(name, "blocks.3.attn");
  nn_scope_name(name, root, "head");
  CU_ASSERT_STRING_EQUAL(name, "head");
  struct nn_linear q = nn_linear_decl(a, "query", 8, 6, NN_BIAS);
  struct nn_linear h = nn_linear_decl(root, "head", 6, 5, 0);
  CU_ASSERT_STRING_EQUAL(P.p[q.weight].name, "blocks.3.attn.query.weight");
  CU_ASSERT_STRING_EQUAL(P.p[q.bias].name, "blocks.3.attn.query.bias");
  CU_ASSERT_STRING_EQUAL(P.p[h.weight].name, "head.weight");
  CU_ASSERT_EQUAL(h.bias, -1);
  CU_ASSERT_EQUAL(P.n, 3);
  CU_ASSERT(P.p[q.weight].t.shape[0] == 6 && P.p[q.weight].t.shape[1] == 8 && P.p[q.weight].decay == 1);
  CU_ASSERT(P.p[q.bias].t.numel == 6 && P.p[q.bias].decay == 0);
  CU_ASSERT(fabsf(P.p[q.weight].init_a - 1.0f / sqrtf(8.0f)) < 1e-7f && P.p[q.weight].init == NN_INIT_UNIFORM);
  nn_params_free(&P);
}

/* BatchNorm2d: torchvision's five names in state_dict order, buffers untrained; the forward is the
 * op's, and num_batches_tracked counts training forwards only. */
static void test_batchnorm(void) {
  struct nn_params P;
  nn_params_init(&P);
  struct nn_batchnorm2d bn = nn_batchnorm2d_decl(nn_scope_sub(nn_scope_root(&P), "layer1.0"), "bn1", 3);
  const char *names[5] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
  int idx[5] = {bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.num_batches_tracked};
  for (int i = 0; i < 5; i++) {
    char want[64];
    snprintf(want, sizeof want, "layer1.0.bn1.%s", names[i]);
    CU_ASSERT_EQUAL(idx[i], i);
    CU_ASSERT_STRING_EQUAL(P.p[i].name, want);
    CU_ASSERT_EQUAL(P.p[i].trainable, i < 2);
    CU_ASSERT_EQUAL(P.p[i].buffer, i >= 2);
  }
  CU_ASSERT_EQUAL(P.p[bn.num_batches_tracked].t.ndim, 0);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&P, &nn_cpu_backend), NN_OK);
  nn_params_reset(&P, 1);
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  for (int step = 0; step < 3; step++) {
    nn_graph_reset(&g);
    g.training = step < 2;
    struct nn_tensor *x = nn_new(&g, NN_F32, 4, NN_SHAPE(2, 3, 2, 2));
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = (float)((i * 7) % 5) - 1.5f;
    float rm0 = nn_pt(&P, bn.running_mean)->data[1];
    struct nn_tensor *y = nn_batchnorm2d_fwd(&g, &P, &bn, x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT_EQUAL(nn_pt(&P, bn.num_batches_tracked)->data[0], (float)(step < 2 ? step + 1 : 2));
    CU_ASSERT(g.training ? nn_pt(&P, bn.running_mean)->data[1] != rm0 : nn_pt(&P, bn.running_mean)->data[1] == rm0);
  }
  nn_graph_destroy(&g);
  nn_params_free(&P);
}

/* nn_concat0 of 70 pieces (two levels of groups): layout and gradient. */
static void test_concat0(void) {
  enum { N = 70 };
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  g.grad_enabled = 1;
  struct nn_tensor *xs[N], *keep[N];
  for (int k = 0; k < N; k++) {
    xs[k] = keep[k] = nn_new(&g, NN_F32, 2, NN_SHAPE(1 + k % 2, 3));
    for (int64_t i = 0; i < xs[k]->numel; i++) xs[k]->data[i] = (float)(1000 * k + i);
    xs[k]->requires_grad = 1;
  }
  struct nn_tensor *y = nn_concat0(&g, N, xs);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  CU_ASSERT_EQUAL(y->shape[0], N / 2 * 3);
  int ok = 1;
  for (int k = 0; k < N; k++) ok &= xs[k] == keep[k]; /* the caller's array is not modified */
  CU_ASSERT(ok);
  float *seed = malloc(sizeof(float) * (size_t)y->numel);
  for (int64_t i = 0; i < y->numel; i++) seed[i] = (float)i;
  CU_ASSERT_EQUAL_FATAL(nn_backward_from(&g, y, seed), NN_OK);
  int64_t off = 0;
  for (int k = 0; k < N; k++)
    for (int64_t i = 0; i < xs[k]->numel; i++, off++) {
      ok &= y->data[off] == xs[k]->data[i];
      ok &= xs[k]->grad[i] == (float)off;
    }
  CU_ASSERT(ok);
  free(seed);
  nn_graph_destroy(&g);
}

/* ---- recurrent layers vs PyTorch ---- */

enum { C_IN, C_HID, C_LAYERS, C_BI, C_BIAS, C_H0, C_B, C_T };

/* Dataset <group>/<name> with exactly n floats, malloc'd (asserted). */
static float *load(const char *group, const char *name, int64_t n) {
  char ds[256];
  int64_t got = -1;
  snprintf(ds, sizeof ds, "%s/%s", group, name);
  float *x = fx_floats(fx, ds, &got);
  NN_ASSERT(x && got == n, "rnn parity: dataset %s has %lld elements, expected %lld", ds, (long long)got, (long long)n);
  return x;
}

static struct nn_tensor *load_tensor(struct nn_graph *g, const char *group, const char *name, int ndim,
                                     const int64_t *shape) {
  struct nn_tensor *t = nn_new(g, NN_F32, ndim, shape);
  float *x = load(group, name, t->numel);
  memcpy(t->data, x, sizeof(float) * (size_t)t->numel);
  free(x);
  t->requires_grad = 1;
  return t;
}

/* Compare got(n) with <group>/<name> (floor + frac * max|ref|); asserts and prints the error. */
static double check(const char *group, const char *name, const float *got, int64_t n, double floor, double frac,
                    double tol) {
  float *want = load(group, name, n);
  double m = 0;
  for (int64_t i = 0; i < n; i++) m = fabs(want[i]) > m ? fabs(want[i]) : m;
  double err = fx_max_rel(got, want, n, floor + frac * m);
  if (!(err <= tol)) printf("\n    %s/%-28s max rel err %.2e  FAIL", group, name, err);
  CU_ASSERT(err <= tol);
  free(want);
  return err;
}

/* sum(t * r) with r = <group>/<rname> */
static struct nn_tensor *dot(struct nn_graph *g, const char *group, const char *rname, struct nn_tensor *t) {
  struct nn_tensor *r = load_tensor(g, group, rname, t->ndim, t->shape);
  r->requires_grad = 0;
  return nn_sum(g, nn_mul(g, t, r));
}

static void rnn_case(const char *group, int lstm) {
  char name[128];
  snprintf(name, sizeof name, "%s/config", group);
  int64_t nc = 0;
  int32_t *cf = fx_ints(fx, name, &nc);
  CU_ASSERT_FATAL(cf && nc == 8);
  int64_t I = cf[C_IN], H = cf[C_HID], L = cf[C_LAYERS], D = cf[C_BI] ? 2 : 1, B = cf[C_B], T = cf[C_T];
  unsigned flags = (cf[C_BIAS] ? NN_BIAS : 0) | (cf[C_BI] ? NN_BIDIR : 0);
  int has_h0 = cf[C_H0];
  free(cf);

  struct nn_params P;
  nn_params_init(&P);
  struct nn_scope s = nn_scope_sub(nn_scope_root(&P), "enc");
  struct nn_lstm ls;
  struct nn_gru gr;
  if (lstm) ls = nn_lstm_decl(s, "rnn", I, H, L, 0.0f, flags);
  else gr = nn_gru_decl(s, "rnn", I, H, L, 0.0f, flags);
  /* names and order: "enc.rnn." + PyTorch's named_parameters order */
  snprintf(name, sizeof name, "%s/order", group);
  int32_t *ord = fx_ints(fx, name, &nc);
  CU_ASSERT_FATAL(ord != NULL);
  char order[1024] = "", mine[1024] = "";
  for (int64_t i = 0; i < nc && i < 1023; i++) order[i] = (char)ord[i], order[i + 1] = 0;
  free(ord);
  for (int i = 0; i < P.n; i++) {
    CU_ASSERT_EQUAL(strncmp(P.p[i].name, "enc.rnn.", 8), 0);
    snprintf(mine + strlen(mine), sizeof mine - strlen(mine), "%s%s", i ? "," : "", P.p[i].name + 8);
  }
  CU_ASSERT_STRING_EQUAL(mine, order);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&P, &nn_cpu_backend), NN_OK);
  for (int i = 0; i < P.n; i++) {
    snprintf(name, sizeof name, "params/%s", P.p[i].name + 8);
    float *w = load(group, name, P.p[i].t.numel);
    memcpy(P.p[i].t.data, w, sizeof(float) * (size_t)P.p[i].t.numel);
    free(w);
  }

  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  g.grad_enabled = 1;
  struct nn_tensor *x = load_tensor(&g, group, "x", 3, NN_SHAPE(B, T, I));
  struct nn_tensor *h0 = has_h0 ? load_tensor(&g, group, "h0", 3, NN_SHAPE(L * D, B, H)) : NULL;
  struct nn_tensor *c0 = has_h0 && lstm ? load_tensor(&g, group, "c0", 3, NN_SHAPE(L * D, B, H)) : NULL;
  struct nn_tensor *hn = NULL, *cn = NULL;
  struct nn_tensor *y = lstm ? nn_lstm_fwd(&g, &P, &ls, x, h0, c0, &hn, &cn) : nn_gru_fwd(&g, &P, &gr, x, h0, &hn);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  CU_ASSERT_PTR_NOT_NULL_FATAL(hn);
  CU_ASSERT(y->ndim == 3 && y->shape[0] == B && y->shape[1] == T && y->shape[2] == D * H);
  CU_ASSERT(hn->ndim == 3 && hn->shape[0] == L * D && hn->shape[1] == B && hn->shape[2] == H);
  CU_ASSERT(lstm ? cn != NULL : cn == NULL);
  double e = check(group, "y", y->data, y->numel, FLOOR_OUT, 0, TOL_OUT);
  e = fmax(e, check(group, "hn", hn->data, hn->numel, FLOOR_OUT, 0, TOL_OUT));
  struct nn_tensor *loss = nn_add(&g, dot(&g, group, "ry", y), dot(&g, group, "rh", hn));
  if (lstm) {
    e = fmax(e, check(group, "cn", cn->data, cn->numel, FLOOR_OUT, 0, TOL_OUT));
    loss = nn_add(&g, loss, dot(&g, group, "rc", cn));
  }
  CU_ASSERT_EQUAL_FATAL(nn_backward(&g, loss), NN_OK);
  double eg = check(group, "grad/x", x->grad, x->numel, 0, FLOOR_FRAC, TOL_GRAD);
  if (h0) eg = fmax(eg, check(group, "grad/h0", h0->grad, h0->numel, 0, FLOOR_FRAC, TOL_GRAD));
  if (c0) eg = fmax(eg, check(group, "grad/c0", c0->grad, c0->numel, 0, FLOOR_FRAC, TOL_GRAD));
  for (int i = 0; i < P.n; i++) {
    snprintf(name, sizeof name, "grad/%s", P.p[i].name + 8);
    eg = fmax(eg, check(group, name, P.p[i].t.grad, P.p[i].t.numel, 0, FLOOR_FRAC, TOL_GRAD));
  }
  printf("\n    %-8s %d params: outputs max rel err %.2e, gradients %.2e", group, P.n, e, eg);
  nn_graph_destroy(&g);
  nn_params_free(&P);
}

static void test_lstm_bidirectional(void) { rnn_case("lstm_bi", 1); }
static void test_lstm_no_bias(void) { rnn_case("lstm_uni", 1); }
static void test_gru_bidirectional(void) { rnn_case("gru_bi", 0); }
static void test_gru_three_layers(void) { rnn_case("gru_uni", 0); }

/* A 2-layer bidirectional LSTM with random parameters and input, run once per mode; fills y, hn. */
static void lstm_run(struct nn_graph *g, struct nn_params *P, const struct nn_lstm *l, int training,
                     struct nn_tensor **y, struct nn_tensor **hn) {
  nn_graph_reset(g);
  g->training = training;
  g->seed = 7;
  struct nn_tensor *x = nn_new(g, NN_F32, 3, NN_SHAPE(4, 5, 3));
  for (int64_t i = 0; i < x->numel; i++) x->data[i] = sinf((float)i);
  *y = nn_lstm_fwd(g, P, l, x, NULL, NULL, hn, NULL);
}

/* Dropout acts between layers only and in training only. */
static void test_rnn_dropout(void) {
  struct nn_params P;
  nn_params_init(&P);
  struct nn_lstm l = nn_lstm_decl(nn_scope_root(&P), "lstm", 3, 6, 2, 0.5f, NN_BIAS | NN_BIDIR);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&P, &nn_cpu_backend), NN_OK);
  nn_params_reset(&P, 3);
  struct nn_graph ge, gt, ge2;
  nn_graph_init(&ge, &nn_cpu_backend, 0);
  nn_graph_init(&gt, &nn_cpu_backend, 0);
  nn_graph_init(&ge2, &nn_cpu_backend, 0);
  struct nn_tensor *ye, *he, *yt, *ht;
  lstm_run(&ge, &P, &l, 0, &ye, &he);
  lstm_run(&gt, &P, &l, 1, &yt, &ht);
  CU_ASSERT_FATAL(ye && he && yt && ht);
  int64_t per = he->numel / 4; /* one (B,H) state of the 4 = layers * dirs */
  CU_ASSERT_EQUAL(memcmp(he->data, ht->data, sizeof(float) * (size_t)(2 * per)), 0); /* layer 0: no dropout */
  CU_ASSERT_NOT_EQUAL(memcmp(he->data + 2 * per, ht->data + 2 * per, sizeof(float) * (size_t)(2 * per)), 0);
  CU_ASSERT_NOT_EQUAL(memcmp(ye->data, yt->data, sizeof(float) * (size_t)ye->numel), 0);
  struct nn_tensor *ye2, *he2;
  lstm_run(&ge2, &P, &l, 0, &ye2, &he2); /* evaluation is deterministic */
  CU_ASSERT_EQUAL(memcmp(ye->data, ye2->data, sizeof(float) * (size_t)ye->numel), 0);
  nn_graph_destroy(&ge2);
  nn_graph_destroy(&ge);
  nn_graph_destroy(&gt);
  nn_params_free(&P);
}

/* Feeding a sequence one step at a time, each step's hn/cn the next step's h0/c0, gives the
 * outputs and final states of the whole sequence at once (LSTM and GRU, 2 layers). */
static void test_rnn_stepwise(void) {
  enum { B = 2, T = 6, I = 3, H = 5, L = 2 };
  struct nn_params P;
  nn_params_init(&P);
  struct nn_lstm l = nn_lstm_decl(nn_scope_root(&P), "lstm", I, H, L, 0.0f, NN_BIAS);
  struct nn_gru r = nn_gru_decl(nn_scope_root(&P), "gru", I, H, L, 0.0f, NN_BIAS);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&P, &nn_cpu_backend), NN_OK);
  nn_params_reset(&P, 5);
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  struct nn_tensor *x = nn_new(&g, NN_F32, 3, NN_SHAPE(B, T, I));
  for (int64_t i = 0; i < x->numel; i++) x->data[i] = cosf(0.7f * (float)i);
  for (int lstm = 0; lstm < 2; lstm++) {
    struct nn_tensor *hn, *cn = NULL, *h = NULL, *c = NULL;
    struct nn_tensor *y = lstm ? nn_lstm_fwd(&g, &P, &l, x, NULL, NULL, &hn, &cn) : nn_gru_fwd(&g, &P, &r, x, NULL, &hn);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    double err = 0;
    for (int64_t t = 0; t < T; t++) {
      struct nn_tensor *xt = nn_narrow(&g, x, 1, t, 1);
      struct nn_tensor *yt = lstm ? nn_lstm_fwd(&g, &P, &l, xt, h, c, &h, &c) : nn_gru_fwd(&g, &P, &r, xt, h, &h);
      CU_ASSERT_PTR_NOT_NULL_FATAL(yt);
      for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < H; j++) err = fmax(err, fabs(yt->data[b * H + j] - y->data[(b * T + t) * H + j]));
    }
    for (int64_t i = 0; i < hn->numel; i++) err = fmax(err, fabs(h->data[i] - hn->data[i]));
    for (int64_t i = 0; lstm && i < cn->numel; i++) err = fmax(err, fabs(c->data[i] - cn->data[i]));
    CU_ASSERT(err < 1e-6);
  }
  nn_graph_destroy(&g);
  nn_params_free(&P);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("layers", NULL, NULL);
  CU_add_test(s, "scopes and linear declarations", test_scopes);
  CU_add_test(s, "batchnorm2d names, buffers, num_batches_tracked", test_batchnorm);
  CU_add_test(s, "concat0 of 70 pieces", test_concat0);
  CU_add_test(s, "rnn dropout between layers, training only", test_rnn_dropout);
  CU_add_test(s, "rnn step by step == whole sequence", test_rnn_stepwise);
  CU_pSuite r = CU_add_suite("rnn vs PyTorch", suite_init, suite_clean);
  CU_add_test(r, "LSTM 2 layers bidirectional, initial state", test_lstm_bidirectional);
  CU_add_test(r, "LSTM 1 layer without bias", test_lstm_no_bias);
  CU_add_test(r, "GRU 2 layers bidirectional, initial state", test_gru_bidirectional);
  CU_add_test(r, "GRU 3 layers", test_gru_three_layers);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
  CU_cleanup_registry();
  return fails != 0;
}
