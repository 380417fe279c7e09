/* Parity of the seq2seq translator (models/seq2seq.c) with PyTorch (fixture tests/ref/seq2seq.h5 from
 * tests/ref/gen_seq2seq.py): built through model_find, parameters loaded by name; one training step
 * with teacher forcing ratio 1 on a padded batch must match the loss (1e-5) and every parameter
 * gradient (1e-4 relative, floor 1% of the tensor's largest entry); the decoding state (dec_open on a
 * source sentence, dec_step over a prefix) must match the decoder's attention-step logits, whether the
 * prefix is fed at once or one token at a time, and dec_reset must restart it. Batches cut to their
 * longest sentence, or padded to their global batch's width, give the same loss and gradients. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "fixture.h"
#include "model.h"

enum { VS = 9, VT = 7, H = 8, HEADS = 2, L = 5, B = 3 };

static hid_t fx = H5I_INVALID_HID;
static int suite_init(void) {
  fx = fx_open("seq2seq.h5");
  return fx < 0;
}
static int suite_clean(void) { return fx >= 0 ? H5Fclose(fx) < 0 : 0; }

struct s2s_fx {
  const struct model_def *def;
  struct cfg c;
  struct ds_meta meta;
  struct nn_params P;
  void *self;
};

static void open_model(struct s2s_fx *m) {
  memset(m, 0, sizeof *m);
  m->def = model_find("seq2seq");
  CU_ASSERT_PTR_NOT_NULL_FATAL(m->def);
  cfg_defaults(&m->c);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "hidden", "8", "test"), NN_OK);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "n_head", "2", "test"), NN_OK);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "dropout", "0", "test"), NN_OK);
  CU_ASSERT_EQUAL_FATAL(cfg_set(&m->c, "teacher_forcing", "1", "test"), NN_OK);
  m->def->preset(&m->c);
  m->meta = (struct ds_meta){.kind = DS_PAIRS, .src_vocab_size = VS, .tgt_vocab_size = VT, .pad_id = 0, .sos_id = 1,
                             .eos_id = 2, .unk_id = 3, .max_len = L};
  nn_params_init(&m->P);
  CU_ASSERT_EQUAL_FATAL(m->def->build(&m->self, &m->c, &m->meta, &m->P), NN_OK);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&m->P, &nn_cpu_backend), NN_OK);
  hid_t gp = H5Gopen2(fx, "params", H5P_DEFAULT);
  H5G_info_t info;
  H5Gget_info(gp, &info);
  H5Gclose(gp);
  CU_ASSERT_EQUAL(info.nlinks, (hsize_t)m->P.n);
  for (int i = 0; i < m->P.n; i++) {
    struct nn_param *p = &m->P.p[i];
    char ds[256];
    int64_t n = -1;
    snprintf(ds, sizeof ds, "params/%s", p->name);
    float *x = fx_floats(fx, ds, &n);
    if (!x || n != p->t.numel) printf("\n    %s: missing or %lld elements, expected %lld  FAIL", p->name, (long long)n, (long long)p->t.numel);
    CU_ASSERT_FATAL(x && n == p->t.numel);
    memcpy(p->t.data, x, sizeof(float) * (size_t)n);
    free(x);
  }
}

static void close_model(struct s2s_fx *m) {
  m->def->destroy(m->self);
  nn_params_free(&m->P);
}

static void test_training_step(void) {
  struct s2s_fx m;
  open_model(&m);
  int64_t n = 0;
  int32_t *src = fx_ints(fx, "src", &n), *tgt = fx_ints(fx, "tgt", NULL);
  CU_ASSERT_FATAL(src && tgt && n == B * L);
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  g.training = 1;
  g.grad_enabled = 1;
  struct ds_batch b = {.n = B, .src = src, .tgt = tgt};
  struct model_out out = {0};
  nn_params_zero_grad(&m.P);
  CU_ASSERT_EQUAL_FATAL(m.def->forward(m.self, &g, &m.P, &b, &out), NN_OK);
  CU_ASSERT_EQUAL(out.count, 4 + 5 + 1); /* non-PAD target tokens */
  CU_ASSERT_EQUAL_FATAL(nn_backward(&g, out.loss), NN_OK);
  float *want = fx_floats(fx, "loss", NULL);
  double lerr = fabs(out.loss->data[0] - want[0]) / fabs(want[0]);
  printf("\n    loss %.6f, PyTorch %.6f (rel err %.1e)", out.loss->data[0], want[0], lerr);
  CU_ASSERT(lerr < 1e-5);
  free(want);
  double worst = 0;
  const char *wname = "";
  for (int i = 0; i < m.P.n; i++) {
    struct nn_param *p = &m.P.p[i];
    char ds[256];
    snprintf(ds, sizeof ds, "grad/%s", p->name);
    float *gw = fx_floats(fx, ds, NULL);
    CU_ASSERT_FATAL(gw != NULL);
    /* the key bias: softmax is invariant to a shift of a query's scores, so its gradient is 0 up to
     * rounding in both (compared with an absolute floor of 1e-5) */
    double ref = fx_max_abs(gw, p->t.numel), floor = ref < 1e-9 ? 1e-1 : 1e-2 * ref + 1e-6;
    double err = fx_max_rel(p->t.grad, gw, p->t.numel, floor);
    if (ref < 1e-9) {
      printf("\n    grad %-30s zero in PyTorch (%.1e): ours max |g| %.1e", p->name, ref, fx_max_abs(p->t.grad, p->t.numel));
      err = fx_max_abs(p->t.grad, p->t.numel) < 1e-5 ? 0 : 1;
    }
    if (err > worst) worst = err, wname = p->name;
    if (!(err < 1e-4)) printf("\n    grad %-30s max rel err %.2e  FAIL", p->name, err);
    CU_ASSERT(err < 1e-4);
    free(gw);
  }
  printf("\n    %d gradients, worst max rel err %.2e (%s)", m.P.n, worst, wname);
  nn_graph_destroy(&g);
  free(src);
  free(tgt);
  close_model(&m);
}

/* Batches are cut to their longest sentence (task_s2s_width) or to their global batch's width
 * (group_key): each example alone, cut to its own width (5, 5, 2) or padded to the whole L through
 * the group key, gives losses and gradients whose token-weighted sum is PyTorch's full batch. */
static void cut_batches(int via_group_key) {
  struct s2s_fx m;
  open_model(&m);
  int32_t *src = fx_ints(fx, "src", NULL), *tgt = fx_ints(fx, "tgt", NULL);
  float *want = fx_floats(fx, "loss", NULL);
  CU_ASSERT_FATAL(src && tgt && want);
  double *sum = calloc((size_t)m.P.total, sizeof(double)), loss = 0;
  int64_t ntok = 0, widths[B];
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  for (int64_t i = 0; i < B; i++) {
    /* group key of width L: (w * (L+1) + ns) * (L+1) + nt with w = L, as s2s_bucket packs it */
    struct ds_batch b = {.n = 1, .src = src + i * L, .tgt = tgt + i * L,
                         .group_key = via_group_key ? (uint32_t)(L * (L + 1) * (L + 1)) : 0};
    widths[i] = task_s2s_width(&b, 0, L);
    struct model_out out = {0};
    nn_graph_reset(&g);
    nn_params_zero_grad(&m.P);
    CU_ASSERT_EQUAL_FATAL(m.def->forward(m.self, &g, &m.P, &b, &out), NN_OK);
    CU_ASSERT_EQUAL_FATAL(nn_backward(&g, out.loss), NN_OK);
    loss += out.loss->data[0] * (double)out.count;
    ntok += out.count;
    for (int j = 0, o = 0; j < m.P.n; o += (int)m.P.p[j].t.numel, j++)
      for (int64_t k = 0; k < m.P.p[j].t.numel; k++) sum[o + k] += m.P.p[j].t.grad[k] * (double)out.count;
  }
  printf("\n    widths %lld %lld %lld; token-weighted loss %.6f, PyTorch %.6f", (long long)widths[0], (long long)widths[1],
         (long long)widths[2], loss / (double)ntok, want[0]);
  if (via_group_key) CU_ASSERT(widths[0] == L && widths[1] == L && widths[2] == L);
  if (!via_group_key) CU_ASSERT(widths[0] == 5 && widths[1] == 5 && widths[2] == 2);
  CU_ASSERT_EQUAL(ntok, 4 + 5 + 1);
  CU_ASSERT(fabs(loss / (double)ntok - want[0]) < 1e-5 * fabs(want[0]));
  double worst = 0;
  for (int j = 0, o = 0; j < m.P.n; o += (int)m.P.p[j].t.numel, j++) {
    char ds[256];
    snprintf(ds, sizeof ds, "grad/%s", m.P.p[j].name);
    float *gw = fx_floats(fx, ds, NULL), *ours = malloc(sizeof(float) * (size_t)m.P.p[j].t.numel);
    for (int64_t k = 0; k < m.P.p[j].t.numel; k++) ours[k] = (float)(sum[o + k] / (double)ntok);
    double ref = fx_max_abs(gw, m.P.p[j].t.numel);
    double err = ref < 1e-9 ? (fx_max_abs(ours, m.P.p[j].t.numel) < 1e-5 ? 0 : 1)
                            : fx_max_rel(ours, gw, m.P.p[j].t.numel, 1e-2 * ref + 1e-6);
    worst = err > worst ? err : worst;
    CU_ASSERT(err < 1e-4);
    free(gw);
    free(ours);
  }
  printf("\n    gradients: worst max rel err %.2e", worst);
  nn_graph_destroy(&g);
  free(sum);
  free(src);
  free(tgt);
  free(want);
  close_model(&m);
}
static void test_cut_own(void) { cut_batches(0); }
static void test_cut_group(void) { cut_batches(1); }

static void test_decoding_state(void) {
  struct s2s_fx m;
  open_model(&m);
  int64_t ns = 0, np = 0;
  int32_t *src = fx_ints(fx, "dec/src", &ns), *prefix = fx_ints(fx, "dec/prefix", &np);
  float *want = fx_floats(fx, "dec/logits", NULL);
  CU_ASSERT_FATAL(src && prefix && want && np == 3);
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  g.training = 0;
  g.grad_enabled = 0;
  void *st = NULL;
  CU_ASSERT_EQUAL_FATAL(m.def->dec_open(m.self, &g, &m.P, src, ns, &st), NN_OK);
  float got[3 * VT];
  for (int pass = 0; pass < 3; pass++) { /* all at once, one token at a time, all at once after a reset */
    if (pass == 2) m.def->dec_reset(m.self, st);
    if (pass == 1) m.def->dec_reset(m.self, st);
    for (int64_t t = 0; t < np; t += pass == 1 ? 1 : np) {
      int64_t k = pass == 1 ? 1 : np;
      struct nn_tensor *lg = NULL;
      nn_graph_reset(&g);
      CU_ASSERT_EQUAL_FATAL(m.def->dec_step(m.self, st, &g, &m.P, prefix + t, k, &lg), NN_OK);
      memcpy(got + t * VT, lg->data, sizeof(float) * (size_t)(k * VT));
    }
    double err = fx_max_rel(got, want, np * VT, 0.1);
    printf("\n    decoding (%s): logits max rel err %.2e", pass == 1 ? "one token at a time" : pass ? "after dec_reset" : "prefix at once", err);
    CU_ASSERT(err < 1e-5);
  }
  /* a source longer than the model's maximum is refused with a message */
  int32_t longsrc[L + 1] = {4, 5, 6, 7, 8, 2};
  void *st2 = NULL;
  nn_graph_reset(&g);
  CU_ASSERT_EQUAL(m.def->dec_open(m.self, &g, &m.P, longsrc, L + 1, &st2), NN_ERR_ARG);
  CU_ASSERT(strstr(nn_errmsg(), "more than the model's maximum") != NULL);
  m.def->dec_free(m.self, st);
  nn_graph_destroy(&g);
  free(src);
  free(prefix);
  free(want);
  close_model(&m);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("seq2seq_parity", suite_init, suite_clean);
  CU_add_test(s, "one training step vs PyTorch (teacher forcing 1): loss and gradients", test_training_step);
  CU_add_test(s, "decoder attention step through the decoding state vs PyTorch", test_decoding_state);
  CU_add_test(s, "batches cut to their longest sentence: per-example steps sum to PyTorch's batch", test_cut_own);
  CU_add_test(s, "batches padded to their global batch's width (group key): the same", test_cut_group);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int fails = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  return fails ? 1 : 0;
}
