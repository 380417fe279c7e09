/* lstm-attn (models/lstm_attn.c): the decoding state reproduces the training forward. Decoding a
 * window one character at a time through (h, c) + the attention cache, or in chunks, gives the
 * logits of the whole-window forward (cross-entropy equal to the model's loss, dropout off);
 * a bidirectional model refuses to decode; the state refuses a position past its context. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
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

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("lstm_attn", NULL, NULL);
  CU_add_test(s, "decoding (h, c) + attention cache == forward, 1 layer", test_decode_1);
  CU_add_test(s, "decoding (h, c) + attention cache == forward, 2 layers", test_decode_2);
  CU_add_test(s, "a bidirectional model refuses to decode", test_bidirectional_refuses);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int f = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  return f ? 1 : 0;
}
