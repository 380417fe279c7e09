/* lstm-attn (models/lstm_attn.c): parity of the whole model with PyTorch (fixture
 * tests/ref/lstm_attn.h5 from tests/ref/gen_lstm_attn.py: torch.nn.LSTM + attention + linear with
 * copied weights, 2 layers, forward/causal and bidirectional): loss, logits and every parameter
 * gradient. The decoding state reproduces the training forward: decoding a window one character
 * at a time through (h, c) + the attention cache, or in chunks, gives the logits of the
 * whole-window forward (cross-entropy equal to the model's loss, dropout off) and of PyTorch;
 * a bidirectional model refuses to decode; the state refuses a position past its context. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "fixture.h"
#include "model.h"

#define V 11
#define BLOCK 9
#define BATCH 3

struct m {
  const struct model_def *def;
  struct cfg c;
  struct ds_meta meta;
  struct nn_params P;
  void *self;
};

static void open_model(struct m *m, int layers, int bidir) {
  memset(m, 0, sizeof *m);
  m->def = model_find("lstm-attn");
  CU_ASSERT_PTR_NOT_NULL_FATAL(m->def);
  cfg_defaults(&m->c);
  char v[16];
  snprintf(v, sizeof v, "%d", layers);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "layers", v, "test"), NN_OK);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "hidden", "6", "test"), NN_OK);
  snprintf(v, sizeof v, "%d", BLOCK);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "block", v, "test"), NN_OK);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "bidirectional", bidir ? "1" : "0", "test"), NN_OK);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "dropout", "0", "test"), NN_OK);
  m->def->preset(&m->c);
  m->meta.kind = DS_TEXT;
  m->meta.vocab_size = V;
  nn_params_init(&m->P);
  CU_ASSERT_EQUAL_FATAL(m->def->build(&m->self, &m->c, &m->meta, &m->P), NN_OK);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&m->P, &nn_cpu_backend), NN_OK);
  nn_params_reset(&m->P, 5);
}

static void close_model(struct m *m) {
  m->def->destroy(m->self);
  nn_params_free(&m->P);
}

static void tokens(int32_t *t) {
  for (int i = 0; i < BATCH * (BLOCK + 1); i++) t[i] = (int32_t)((i * 7 + i / 5) % V);
}

/* Decode every window in chunks of `chunk`; logits(BATCH,BLOCK,V). */
static void decode(struct m *m, const int32_t *tok, int64_t chunk, float *logits) {
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  g.training = 0;
  g.grad_enabled = 0;
  void *state = NULL;
  CU_ASSERT_EQUAL_FATAL(m->def->dec_open(m->self, &g, &m->P, NULL, 0, &state), NN_OK);
  int64_t context, vocab;
  m->def->dec_info(m->self, &context, &vocab);
  CU_ASSERT(context == BLOCK && vocab == V);
  for (int64_t i = 0; i < BATCH; i++) {
    m->def->dec_reset(m->self, state);
    for (int64_t t = 0; t < BLOCK; t += chunk) {
      int64_t len = t + chunk <= BLOCK ? chunk : BLOCK - t;
      nn_graph_reset(&g);
      struct nn_tensor *y = NULL;
      CU_ASSERT_EQUAL_FATAL(m->def->dec_step(m->self, state, &g, &m->P, tok + i * (BLOCK + 1) + t, len, &y), NN_OK);
      CU_ASSERT_FATAL(y && y->shape[1] == len && y->shape[2] == V);
      memcpy(logits + (i * BLOCK + t) * V, y->data, sizeof(float) * (size_t)(len * V));
    }
    nn_graph_reset(&g);
    struct nn_tensor *y = NULL;
    CU_ASSERT_NOT_EQUAL(m->def->dec_step(m->self, state, &g, &m->P, tok, 1, &y), NN_OK); /* past the context */
  }
  m->def->dec_free(m->self, state);
  nn_graph_destroy(&g);
}

/* The model's forward loss (eval mode) on the windows. */
static double forward_loss(struct m *m, int32_t *tok) {
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  g.training = 0;
  g.grad_enabled = 0;
  struct ds_batch b = {.n = BATCH, .tokens = tok};
  struct model_out out = {0};
  CU_ASSERT_EQUAL_FATAL(m->def->forward(m->self, &g, &m->P, &b, &out), NN_OK);
  double loss = out.loss->data[0];
  nn_graph_destroy(&g);
  return loss;
}

static double ce(const float *logits, const int32_t *tok) {
  double s = 0;
  for (int64_t i = 0; i < BATCH; i++)
    for (int64_t t = 0; t < BLOCK; t++) {
      const float *l = logits + (i * BLOCK + t) * V;
      double mx = l[0], z = 0;
      for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;
      for (int v = 0; v < V; v++) z += exp(l[v] - mx);
      s += log(z) + mx - l[tok[i * (BLOCK + 1) + t + 1]];
    }
  return s / (BATCH * BLOCK);
}

static void decode_matches_forward(int layers) {
  struct m m;
  open_model(&m, layers, 0);
  int32_t tok[BATCH * (BLOCK + 1)];
  tokens(tok);
  static float one[BATCH * BLOCK * V], chunked[BATCH * BLOCK * V], whole[BATCH * BLOCK * V];
  decode(&m, tok, 1, one);
  decode(&m, tok, 4, chunked);
  decode(&m, tok, BLOCK, whole);
  double worst = 0;
  for (int i = 0; i < BATCH * BLOCK * V; i++) {
    double e1 = fabs(one[i] - whole[i]), e2 = fabs(chunked[i] - whole[i]);
    worst = e1 > worst ? e1 : worst;
    worst = e2 > worst ? e2 : worst;
  }
  double lf = forward_loss(&m, tok), ld = ce(one, tok);
  printf("\n    %d layer(s): one-at-a-time vs whole-window logits %.2e; loss forward %.6f, decoded %.6f", layers, worst,
         lf, ld);
  CU_ASSERT(worst < 1e-5);
  CU_ASSERT(fabs(lf - ld) < 1e-5 * fabs(lf));
  CU_ASSERT(lf > 1.0); /* an untrained model: about log V */
  close_model(&m);
}
static void test_decode_1(void) { decode_matches_forward(1); }
static void test_decode_2(void) { decode_matches_forward(2); }

static void test_bidirectional_refuses(void) {
  struct m m;
  open_model(&m, 1, 1);
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  void *state = NULL;
  CU_ASSERT_NOT_EQUAL(m.def->dec_open(m.self, &g, &m.P, NULL, 0, &state), NN_OK);
  CU_ASSERT_PTR_NULL(state);
  CU_ASSERT_PTR_NOT_NULL(strstr(nn_errmsg(), "bidirectional"));
  /* it still trains: a finite loss over the windows */
  int32_t tok[BATCH * (BLOCK + 1)];
  tokens(tok);
  CU_ASSERT(isfinite(forward_loss(&m, tok)));
  nn_graph_destroy(&g);
  close_model(&m);
}

/* ---- parity with PyTorch (fixture lstm_attn.h5) ---- */
#define TOL_OUT 1e-5  /* loss and logits, relative to |ref| + 0.1 */
/* gradients, relative to |ref| + 1e-2 max|ref| of the tensor: the query's gradient goes through
 * differences of attention scores (cancellation), 1.1e-4 in float32 here; a wrong path is O(1) */
#define TOL_GRAD 3e-4
/* a reference gradient below this everywhere is zero up to rounding (the key bias: softmax does not
 * see a shift of all scores of a query); ours must then be rounding noise, below NOISE */
#define ZERO_GRAD 1e-12
#define NOISE 1e-6

static hid_t fx = H5I_INVALID_HID;
static int suite_init(void) {
  fx = fx_open("lstm_attn.h5");
  return fx < 0;
}
static int suite_clean(void) { return fx >= 0 ? H5Fclose(fx) < 0 : 0; }

/* dataset group/name (exactly n floats) against got: the worst relative error, printed when verbose */
static double cmp(const char *group, const char *name, const float *got, int64_t n, double floor, double frac, int verbose) {
  char ds[256];
  int64_t k = -1;
  snprintf(ds, sizeof ds, "%s/%s", group, name);
  float *want = fx_floats(fx, ds, &k);
  CU_ASSERT_FATAL(want && k == n);
  double err = fx_max_rel(got, want, n, floor + frac * fx_max_abs(want, n));
  if (verbose) printf("\n    %s/%-28s max rel err %.2e", group, name, err);
  free(want);
  return err;
}

static void parity(const char *group) {
  char ds[256];
  snprintf(ds, sizeof ds, "%s/config", group);
  int32_t *cf = fx_ints(fx, ds, NULL); /* vocab, hidden, layers, bidirectional, block, batch */
  CU_ASSERT_PTR_NOT_NULL_FATAL(cf);
  int64_t Vf = cf[0], Bf = cf[5], Tf = cf[4];
  struct m m;
  memset(&m, 0, sizeof m);
  m.def = model_find("lstm-attn");
  cfg_defaults(&m.c);
  const char *key[4] = {"hidden", "layers", "bidirectional", "block"};
  for (int i = 0; i < 4; i++) {
    char v[16];
    snprintf(v, sizeof v, "%d", cf[i + 1]);
    CU_ASSERT_EQUAL_FATAL(cfg_set(&m.c, key[i], v, "test"), NN_OK);
  }
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m.c, "dropout", "0", "test"), NN_OK);
  m.def->preset(&m.c);
  m.meta.kind = DS_TEXT;
  m.meta.vocab_size = (int)Vf;
  nn_params_init(&m.P);
  CU_ASSERT_EQUAL_FATAL(m.def->build(&m.self, &m.c, &m.meta, &m.P), NN_OK);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&m.P, &nn_cpu_backend), NN_OK);
  /* every fixture parameter is a parameter of the model (same count, loaded by name and size) */
  snprintf(ds, sizeof ds, "%s/params", group);
  hid_t gp = H5Gopen2(fx, ds, H5P_DEFAULT);
  H5G_info_t info;
  H5Gget_info(gp, &info);
  H5Gclose(gp);
  CU_ASSERT_EQUAL_FATAL(info.nlinks, (hsize_t)m.P.n);
  for (int i = 0; i < m.P.n; i++) {
    struct nn_param *p = &m.P.p[i];
    int64_t k = -1;
    snprintf(ds, sizeof ds, "%s/params/%s", group, p->name);
    float *x = fx_floats(fx, ds, &k);
    CU_ASSERT_FATAL(x && k == p->t.numel);
    memcpy(p->t.data, x, sizeof(float) * (size_t)k);
    free(x);
  }
  snprintf(ds, sizeof ds, "%s/tokens", group);
  int64_t nt = 0;
  int32_t *tok = fx_ints(fx, ds, &nt);
  CU_ASSERT_FATAL(tok && nt == Bf * (Tf + 1));

  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  struct ds_batch b = {.n = Bf, .tokens = tok};
  struct model_out out = {0};
  nn_params_zero_grad(&m.P);
  CU_ASSERT_EQUAL_FATAL(m.def->forward(m.self, &g, &m.P, &b, &out), NN_OK);
  CU_ASSERT_FATAL(out.loss && out.logits && out.logits->numel == Bf * Tf * Vf);
  CU_ASSERT_EQUAL_FATAL(nn_backward(&g, out.loss), NN_OK);
  float loss = out.loss->data[0];
  CU_ASSERT(cmp(group, "loss", &loss, 1, 0.1, 0, 1) <= TOL_OUT);
  CU_ASSERT(cmp(group, "logits", out.logits->data, out.logits->numel, 0.1, 0, 1) <= TOL_OUT);
  double worst = 0;
  const char *wname = "";
  for (int i = 0; i < m.P.n; i++) {
    snprintf(ds, sizeof ds, "grad/%s", m.P.p[i].name);
    double e = cmp(group, ds, m.P.p[i].t.grad, m.P.p[i].t.numel, 0, 1e-2, 0);
    if (e > TOL_GRAD) { /* a zero reference: ours must be rounding noise */
      char full[300];
      snprintf(full, sizeof full, "%s/%s", group, ds);
      float *want = fx_floats(fx, full, NULL);
      double ref = fx_max_abs(want, m.P.p[i].t.numel), ours = fx_max_abs(m.P.p[i].t.grad, m.P.p[i].t.numel);
      free(want);
      if (ref < ZERO_GRAD) {
        printf("\n    %s/%s zero in PyTorch, ours at most %.1e (limit %.0e)", group, ds, ours, NOISE);
        CU_ASSERT(ours < NOISE);
        continue;
      }
    }
    if (e > TOL_GRAD) printf("\n    %s/%s max rel err %.2e  FAIL", group, ds, e);
    CU_ASSERT(e <= TOL_GRAD);
    if (e >= worst) worst = e, wname = m.P.p[i].name;
  }
  printf("\n    %s: %d parameter gradients, worst %.2e (%s)", group, m.P.n, worst, wname);
  if (!cf[3]) { /* the decoding state, one character at a time, gives PyTorch's logits too */
    static float one[4096];
    CU_ASSERT_FATAL(Bf * Tf * Vf <= 4096);
    struct nn_graph gd;
    nn_graph_init(&gd, &nn_cpu_backend, 0);
    gd.training = 0;
    gd.grad_enabled = 0;
    void *state = NULL;
    CU_ASSERT_EQUAL_FATAL(m.def->dec_open(m.self, &gd, &m.P, NULL, 0, &state), NN_OK);
    for (int64_t i = 0; i < Bf; i++) {
      m.def->dec_reset(m.self, state);
      for (int64_t t = 0; t < Tf; t++) {
        nn_graph_reset(&gd);
        struct nn_tensor *y = NULL;
        CU_ASSERT_EQUAL_FATAL(m.def->dec_step(m.self, state, &gd, &m.P, tok + i * (Tf + 1) + t, 1, &y), NN_OK);
        memcpy(one + (i * Tf + t) * Vf, y->data, sizeof(float) * (size_t)Vf);
      }
    }
    m.def->dec_free(m.self, state);
    nn_graph_destroy(&gd);
    printf("\n    %s: decoding one character at a time:", group);
    CU_ASSERT(cmp(group, "logits", one, Bf * Tf * Vf, 0.1, 0, 1) <= TOL_GRAD);
  }
  nn_graph_destroy(&g);
  free(tok);
  free(cf);
  close_model(&m);
}
static void test_parity_uni(void) { parity("uni"); }
static void test_parity_bi(void) { parity("bi"); }

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("lstm_attn", NULL, NULL);
  CU_add_test(s, "decoding (h, c) + attention cache == forward, 1 layer", test_decode_1);
  CU_add_test(s, "decoding (h, c) + attention cache == forward, 2 layers", test_decode_2);
  CU_add_test(s, "a bidirectional model refuses to decode", test_bidirectional_refuses);
  CU_pSuite p = CU_add_suite("lstm_attn vs PyTorch", suite_init, suite_clean);
  CU_add_test(p, "2 layers, causal: loss, logits, every gradient, decoded logits", test_parity_uni);
  CU_add_test(p, "2 layers, bidirectional: loss, logits, every gradient", test_parity_bi);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int f = (int)(CU_get_number_of_failures() + CU_get_number_of_suites_failed());
  CU_cleanup_registry();
  return f ? 1 : 0;
}
