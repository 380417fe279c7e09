/* Parity of the language models (models/gpt.c, models/transformer.c) with PyTorch (fixture
 * tests/ref/models.h5 from tests/ref/gen_models.py): each model is built through model_find and
 * its preset, loaded by parameter name, and must match the loss and logits (1e-5 relative),
 * every parameter gradient (1e-4), the parameters after 3 steps of clipping + the preset's
 * optimizer and schedule (1e-4; gpt with weight decay 10, where a wrong decay is visible), and give the same logits when decoding with key/value caches,
 * the whole window at once or one token at a time. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "blocks.h"
#include "fixture.h"
#include "model.h"
#include "train.h"

#define TOL_OUT 1e-5    /* loss and logits */
#define TOL_GRAD 1e-4   /* gradients, parameters after the optimizer steps, incremental decoding */
/* Relative errors are |got - ref| / (|ref| + floor): the floor keeps entries near 0 from demanding
 * more than float32 rounding can give. Logits and losses are of order 1 (|logit| <= 2 here). Gradient
 * and parameter tensors get a floor of FLOOR_FRAC times their largest |ref| entry, so an entry a
 * hundred times smaller than its tensor's largest is compared with absolute error TOL * that floor. */
#define FLOOR_OUT 0.1
#define FLOOR_FRAC 1e-2
/* A reference gradient below this everywhere is zero up to rounding (the key bias: softmax is invariant
 * to a shift of all scores of a query). Ours must then be rounding noise (< NOISE), and since Adam
 * normalises noise into steps of up to lr, such a parameter may move by up to lr per step. */
#define ZERO_GRAD 1e-12
#define NOISE 1e-7
#define NSTEPS 3

/* The fixture's tiny configuration (tests/ref/gen_models.py). */
enum { V = 11, WIDTH = 16, HEADS = 2, LAYERS = 2, BLOCK = 8, BATCH = 3, FFN = 24 };

static hid_t fx = H5I_INVALID_HID;

static int suite_init(void) {
  fx = fx_open("models.h5");
  return fx < 0;
}
static int suite_clean(void) { return fx >= 0 ? H5Fclose(fx) < 0 : 0; }

/* A language model under test: its definition, configuration, parameters and the fixture group. */
struct lm {
  const char *group;
  const struct model_def *def;
  struct cfg c;
  struct ds_meta meta;
  struct nn_params P;
  void *self;
  int32_t *tokens; /* (BATCH, BLOCK+1) */
};

/* Dataset <group>/<name> (exactly n floats, asserted), malloc'd. */
static float *load(const struct lm *m, const char *name, int64_t n) {
  char ds[256];
  int64_t got = -1;
  snprintf(ds, sizeof ds, "%s/%s", m->group, name);
  float *x = fx_floats(fx, ds, &got);
  NN_ASSERT(x && got == n, "model parity: dataset %s has %lld elements, expected %lld", ds, (long long)got, (long long)n);
  return x;
}

/* Compare got(n) with dataset <group>/<name>, floor + frac * max|ref|; returns the worst relative error
 * and asserts it <= tol (prints it when verbose or failing, with the worst entry). */
static double check(const struct lm *m, const char *name, const float *got, int64_t n, double floor, double frac,
                    double tol, int verbose) {
  float *want = load(m, name, n);
  floor += frac * fx_max_abs(want, n);
  double err = fx_max_rel(got, want, n, floor);
  int bad = !(err <= tol);
  if (verbose || bad) printf("\n    %s/%-34s max rel err %.2e%s", m->group, name, err, bad ? "  FAIL" : "");
  for (int64_t i = 0; i < n && bad; i++)
    if (fabs(got[i] - want[i]) / (fabs(want[i]) + floor) == err)
      printf(" (entry %lld: %.9g, PyTorch %.9g)", (long long)i, got[i], want[i]), bad = 0;
  CU_ASSERT(err <= tol);
  free(want);
  return err;
}

/* 1 if the reference gradient of parameter p is zero up to rounding (see ZERO_GRAD). */
static int zero_grad(const struct lm *m, const struct nn_param *p) {
  char name[256];
  snprintf(name, sizeof name, "grad/%s", p->name);
  float *g = load(m, name, p->t.numel);
  int z = fx_max_abs(g, p->t.numel) < ZERO_GRAD;
  free(g);
  return z;
}

/* Largest |a - b| over the parameter's entries against dataset <group>/<name>. */
static double max_abs_diff(const struct lm *m, const char *name, const float *a, int64_t n) {
  float *b = load(m, name, n);
  double w = 0;
  for (int64_t i = 0; i < n; i++) w = fabs(a[i] - b[i]) > w ? fabs(a[i] - b[i]) : w;
  free(b);
  return w;
}

/* Check every parameter's <prefix>/<name>: the gradients (grads) or the data after steps of at most
 * lr_sum in total (Adam); prints the worst one and those whose reference gradient is zero. */
static void check_all(const struct lm *m, const char *prefix, int grads, double lr_sum) {
  char name[256];
  double worst = 0;
  const char *worst_name = "";
  for (int i = 0; i < m->P.n; i++) {
    const struct nn_param *p = &m->P.p[i];
    const float *x = grads ? p->t.grad : p->t.data;
    snprintf(name, sizeof name, "%s/%s", prefix, p->name);
    if (zero_grad(m, p)) {
      double d = grads ? fx_max_abs(x, p->t.numel) : max_abs_diff(m, name, x, p->t.numel), lim = grads ? NOISE : lr_sum;
      printf("\n    %s/%-34s zero gradient in PyTorch: |ours - PyTorch| <= %.2e (limit %.1e)%s", m->group, name, d, lim,
             d <= lim ? "" : "  FAIL");
      CU_ASSERT(d <= lim);
      continue;
    }
    double e = check(m, name, x, p->t.numel, 0, FLOOR_FRAC, TOL_GRAD, 0);
    if (e >= worst) worst = e, worst_name = p->name;
  }
  printf("\n    %s/%s: %d parameters, worst %.2e (%s)", m->group, prefix, m->P.n, worst, worst_name);
}

/* Build model `name` with the fixture's configuration, dropout 0, parameters loaded from the fixture. */
static void lm_open(struct lm *m, const char *name, const char *group) {
  memset(m, 0, sizeof *m);
  m->group = group;
  m->def = model_find(name);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m->def);
  cfg_defaults(&m->c);
  char v[32];
  const char *key[5] = {"n_embd", "hidden", "n_head", "n_layer", "block"};
  const int64_t val[5] = {WIDTH, WIDTH, HEADS, LAYERS, BLOCK};
  for (int i = 0; i < 5; i++) {
    snprintf(v, sizeof v, "%lld", (long long)val[i]);
    CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, key[i], v, "test"), NN_OK);
  }
  snprintf(v, sizeof v, "%lld", (long long)FFN);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "ffn", v, "test"), NN_OK);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "dropout", "0", "test"), NN_OK);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "steps", "3", "test"), NN_OK); /* cosine schedule over 3 updates */
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "warmup", "1", "test"), NN_OK);
  /* gpt: weight decay 10 (fixture GPT_WD): the preset's 0.1 changes a weight by 9e-5 of itself over
   * 3 steps, below TOL_GRAD, so a wrong decay would pass unseen; 10 makes it 9e-3 */
  if (strcmp(name, "gpt") == 0) CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "weight_decay", "10", "test"), NN_OK);
  m->def->preset(&m->c);
  m->meta.kind = DS_TEXT;
  m->meta.vocab_size = V;
  nn_params_init(&m->P);
  CU_ASSERT_EQUAL_FATAL(m->def->build(&m->self, &m->c, &m->meta, &m->P), NN_OK);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&m->P, &nn_cpu_backend), NN_OK);

  /* every fixture parameter exists in the model and vice versa (counts match, names looked up) */
  char ds[256];
  snprintf(ds, sizeof ds, "%s/params", group);
  hid_t gp = H5Gopen2(fx, ds, H5P_DEFAULT);
  H5G_info_t info;
  H5Gget_info(gp, &info);
  H5Gclose(gp);
  CU_ASSERT_EQUAL(info.nlinks, (hsize_t)m->P.n);
  for (int i = 0; i < m->P.n; i++) {
    struct nn_param *p = &m->P.p[i];
    snprintf(ds, sizeof ds, "params/%s", p->name);
    float *x = load(m, ds, p->t.numel);
    memcpy(p->t.data, x, sizeof(float) * (size_t)p->t.numel);
    free(x);
    snprintf(ds, sizeof ds, "%s/decay/%s", group, p->name);
    int32_t *d = fx_ints(fx, ds, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    if (d[0] != p->decay) printf("\n    %s: decay flag %d, PyTorch %d  FAIL", p->name, p->decay, d[0]);
    CU_ASSERT_EQUAL(d[0], p->decay);
    free(d);
  }
  int64_t n = 0;
  snprintf(ds, sizeof ds, "%s/tokens", group);
  m->tokens = fx_ints(fx, ds, &n);
  CU_ASSERT_FATAL(m->tokens && n == BATCH * (BLOCK + 1));
}

static void lm_close(struct lm *m) {
  m->def->destroy(m->self);
  nn_params_free(&m->P);
  free(m->tokens);
}

/* Forward + backward of the fixture batch on g (reset first); returns the loss (host value). */
static float lm_step(struct lm *m, struct nn_graph *g) {
  struct ds_batch b = {.n = BATCH, .tokens = m->tokens};
  struct model_out out = {0};
  nn_graph_reset(g);
  nn_params_zero_grad(&m->P);
  CU_ASSERT_EQUAL_FATAL(m->def->forward(m->self, g, &m->P, &b, &out), NN_OK);
  CU_ASSERT_FATAL(out.loss != NULL);
  CU_ASSERT_EQUAL(out.count, BATCH * BLOCK);
  CU_ASSERT_EQUAL_FATAL(nn_backward(g, out.loss), NN_OK);
  return out.loss->data[0];
}

/* logits(BATCH, BLOCK, V) by decoding each window through the model's decoding state (key/value
 * caches), reset per window, `chunk` tokens per call. */
static void lm_decode(struct lm *m, int64_t chunk, float *logits) {
  int64_t context, vocab;
  m->def->dec_info(m->self, &context, &vocab);
  CU_ASSERT_EQUAL_FATAL(context, BLOCK);
  CU_ASSERT_EQUAL_FATAL(vocab, V);
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  g.training = 0;
  g.grad_enabled = 0;
  void *state = NULL;
  CU_ASSERT_EQUAL_FATAL(m->def->dec_open(m->self, &g, &m->P, NULL, 0, &state), NN_OK);
  for (int64_t i = 0; i < BATCH; i++) {
    m->def->dec_reset(m->self, state);
    for (int64_t t = 0; t < BLOCK; t += chunk) {
      int64_t len = t + chunk <= BLOCK ? chunk : BLOCK - t;
      nn_graph_reset(&g);
      struct nn_tensor *y = NULL;
      CU_ASSERT_EQUAL_FATAL(m->def->dec_step(m->self, state, &g, &m->P, m->tokens + i * (BLOCK + 1) + t, len, &y), NN_OK);
      CU_ASSERT_FATAL(y && y->ndim == 3 && y->shape[0] == 1 && y->shape[1] == len && y->shape[2] == V);
      memcpy(logits + (i * BLOCK + t) * V, y->data, sizeof(float) * (size_t)(len * V));
    }
    /* the state is full: one more position is refused with a message */
    nn_graph_reset(&g);
    struct nn_tensor *y = NULL;
    CU_ASSERT_NOT_EQUAL(m->def->dec_step(m->self, state, &g, &m->P, m->tokens, 1, &y), NN_OK);
  }
  m->def->dec_free(m->self, state);
  nn_graph_destroy(&g);
}

/* Decode with chunks of `chunk` tokens into logits and compare them with the fixture's within tol. */
static void decode_check(struct lm *m, int64_t chunk, float *logits, double tol) {
  lm_decode(m, chunk, logits);
  printf("\n    %s: decoding %lld token(s) per call with key/value caches", m->group, (long long)chunk);
  check(m, "logits", logits, BATCH * BLOCK * V, FLOOR_OUT, 0, tol, 1);
}

/* Worst relative error of the last position's logits of each window: a against b. */
static double last_position_err(const float *a, const float *b) {
  double w = 0;
  for (int64_t i = 0; i < BATCH; i++) {
    int64_t o = (i * BLOCK + BLOCK - 1) * V;
    double e = fx_max_rel(a + o, b + o, V, FLOOR_OUT);
    if (e > w) w = e;
  }
  return w;
}

/* The whole parity check of one model. */
static void parity(const char *name) {
  struct lm m;
  lm_open(&m, name, name);
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);

  /* loss and gradients of the first forward / backward */
  float loss = lm_step(&m, &g);
  check(&m, "loss", &loss, 1, FLOOR_OUT, 0, TOL_OUT, 1);
  check_all(&m, "grad", 1, 0);

  /* logits through the cached decoding path: the whole window at once (1e-5), one token at a time and
   * chunks of 3, 3, 2 (several new positions over a non-empty cache) (1e-4) */
  float *full = malloc(sizeof(float) * BATCH * BLOCK * V), *inc = malloc(sizeof(float) * BATCH * BLOCK * V);
  decode_check(&m, BLOCK, full, TOL_OUT);
  decode_check(&m, 3, inc, TOL_GRAD);
  decode_check(&m, 1, inc, TOL_GRAD);
  double e = last_position_err(inc, full);
  printf("\n    %s: one token at a time vs whole window, last position: max rel err %.2e", name, e);
  CU_ASSERT(e <= TOL_GRAD);
  free(full);
  free(inc);

  /* NSTEPS of clipping + the preset's optimizer and schedule, through the trainer's own set-up */
  struct nn_optim o;
  struct nn_sched s;
  CU_ASSERT_EQUAL_FATAL(train_optim_setup(&m.c, &m.P, m.c.steps, &o, &s), NN_OK);
  CU_ASSERT_EQUAL_FATAL(nn_sched_check(&s), NN_OK);
  const float weight_decay = o.cfg.weight_decay;
  float losses[NSTEPS], lrs[NSTEPS];
  for (int t = 0; t < NSTEPS; t++) {
    losses[t] = lm_step(&m, &g);
    nn_clip_grad_norm(&m.P, (float)m.c.clip);
    lrs[t] = nn_sched_lr(&s, t, 0);
    nn_optim_step(&o, lrs[t]);
  }
  printf("\n    %s: %s lr %g clip %g wd %g schedule %s", name, m.c.optimizer, m.c.lr, m.c.clip, weight_decay,
         m.c.schedule);
  check(&m, "lr", lrs, NSTEPS, 0, 0, 1e-6, 1);
  check(&m, "losses", losses, NSTEPS, FLOOR_OUT, 0, TOL_OUT, 1);
  double lr_sum = 0;
  for (int t = 0; t < NSTEPS; t++) lr_sum += lrs[t];
  /* the test can see the decay: its share of a decayed weight's change is far above the tolerance */
  if (weight_decay > 0) {
    printf("\n    %s: weight decay changes each decayed weight by %.1e of itself (tolerance %.0e)", name,
           lr_sum * weight_decay, TOL_GRAD);
    CU_ASSERT(lr_sum * weight_decay > 10 * TOL_GRAD);
  }
  check_all(&m, "step3", 0, lr_sum);

  nn_optim_free(&o);
  nn_graph_destroy(&g);
  lm_close(&m);
}

static void test_gpt(void) { parity("gpt"); }
static void test_transformer(void) { parity("transformer"); }

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("model parity", suite_init, suite_clean);
  CU_add_test(s, "gpt vs PyTorch (loss, logits, gradients, 3 AdamW steps, cached decoding)", test_gpt);
  CU_add_test(s, "transformer vs PyTorch (loss, logits, gradients, 3 Adam steps, cached decoding)", test_transformer);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int failures = (int)(CU_get_number_of_failures() + CU_get_number_of_suites_failed());
  CU_cleanup_registry();
  return failures ? 1 : 0;
}
