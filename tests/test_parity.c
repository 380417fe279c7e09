/* Parity with PyTorch (fixture tests/ref/parity.h5 from tests/ref/gen_parity.py): a two-layer MLP
 * and a pre-norm attention block (loss, logits and every parameter gradient within 1e-4
 * relative), single ops in their non-default variants (output and input gradients), and the
 * fused attention against a naive C reference with dropout (mask keyed by sample). */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "fixture.h"
#include "nn.h"

#define TOL 1e-4        /* relative tolerance against the fixture */
#define FLOOR 1e-3      /* |ref| floor: entries near 0 are compared with absolute error 1e-7 */

static hid_t fx = H5I_INVALID_HID;

static int suite_init(void) {
  fx = fx_open("parity.h5");
  return fx < 0;
}
static int suite_clean(void) { return fx >= 0 ? H5Fclose(fx) < 0 : 0; }

/* Copy dataset `name` (exactly n elements) into dst. */
static void load_into(float *dst, const char *name, int64_t n) {
  int64_t got = -1;
  float *x = fx_floats(fx, name, &got);
  NN_ASSERT(x && got == n, "parity: dataset %s has %lld elements, expected %lld", name, (long long)got, (long long)n);
  memcpy(dst, x, sizeof(float) * (size_t)n);
  free(x);
}

/* A float graph tensor of the given shape loaded from the fixture. */
static struct nn_tensor *load_tensor(struct nn_graph *g, const char *name, int ndim, const int64_t *shape, int grad) {
  struct nn_tensor *t = nn_new(g, NN_F32, ndim, shape);
  load_into(t->data, name, t->numel);
  t->requires_grad = grad;
  return t;
}

/* An index tensor (NN_I32 or NN_I64) loaded from an int32 dataset. */
static struct nn_tensor *load_index(struct nn_graph *g, const char *name, enum nn_dtype dt, int ndim,
                                    const int64_t *shape) {
  struct nn_tensor *t = nn_new(g, dt, ndim, shape);
  int64_t got = -1;
  int32_t *x = fx_ints(fx, name, &got);
  NN_ASSERT(x && got == t->numel, "parity: index dataset %s missing or of the wrong size", name);
  for (int64_t i = 0; i < got; i++) {
    if (dt == NN_I32) t->i32[i] = x[i];
    else t->i64[i] = x[i];
  }
  free(x);
  return t;
}

/* Worst relative error of got(n) against dataset ref; asserts it is within TOL. */
static void check(const char *what, const float *got, const char *ref, int64_t n, double floor) {
  float *want = malloc(sizeof(float) * (size_t)n);
  load_into(want, ref, n);
  double err = fx_max_rel(got, want, n, floor);
  int bad = !(err <= TOL);
  printf("\n    %-34s max rel err %.2e%s", what, err, bad ? "  > 1e-4 FAIL" : "");
  CU_ASSERT(!bad);
  free(want);
}

/* Load every parameter of P from <group>/<name>. */
static void load_params(struct nn_params *P, const char *group) {
  char name[256];
  for (int i = 0; i < P->n; i++) {
    snprintf(name, sizeof name, "%s/%s", group, P->p[i].name);
    load_into(P->p[i].t.data, name, P->p[i].t.numel);
  }
}

/* Check every parameter gradient of P against <group>/grad/<name>. */
static void check_param_grads(struct nn_params *P, const char *group) {
  char name[256];
  for (int i = 0; i < P->n; i++) {
    snprintf(name, sizeof name, "%s/grad/%s", group, P->p[i].name);
    check(name, P->p[i].t.grad, name, P->p[i].t.numel, FLOOR);
  }
}

/* The tensor of parameter `name` (asserted to exist). */
static struct nn_tensor *W(struct nn_params *P, const char *name) {
  int i = nn_params_find(P, name);
  NN_ASSERT(i >= 0, "parity: no parameter %s", name);
  return nn_pt(P, i);
}

/* y = prefix(x) for a Linear declared under prefix. */
static struct nn_tensor *lin(struct nn_graph *g, struct nn_params *P, const char *prefix, struct nn_tensor *x) {
  char w[128], b[128];
  snprintf(w, sizeof w, "%s.weight", prefix);
  snprintf(b, sizeof b, "%s.bias", prefix);
  return nn_linear(g, x, W(P, w), W(P, b));
}

/* y = prefix(x) for a LayerNorm declared under prefix. */
static struct nn_tensor *ln(struct nn_graph *g, struct nn_params *P, const char *prefix, struct nn_tensor *x) {
  char w[128], b[128];
  snprintf(w, sizeof w, "%s.weight", prefix);
  snprintf(b, sizeof b, "%s.bias", prefix);
  return nn_layernorm(g, x, W(P, w), W(P, b), 1e-5f);
}

/* Backward from loss, then compare loss, logits and every parameter gradient with <group>/. */
static void finish_model(struct nn_graph *g, struct nn_params *P, const char *group, struct nn_tensor *logits,
                         struct nn_tensor *loss) {
  char name[128];
  CU_ASSERT_FATAL(loss != NULL && logits != NULL);
  CU_ASSERT_EQUAL_FATAL(nn_backward(g, loss), NN_OK);
  snprintf(name, sizeof name, "%s/loss", group);
  check(name, loss->data, name, 1, FLOOR);
  snprintf(name, sizeof name, "%s/logits", group);
  check(name, logits->data, name, logits->numel, FLOOR);
  check_param_grads(P, group);
}

/* Linear 12->16, ReLU, Linear 16->5, cross-entropy, batch 8. */
static void test_mlp(void) {
  struct nn_params P;
  nn_params_init(&P);
  nn_declare_linear(&P, "fc1", 12, 16, 1);
  nn_declare_linear(&P, "fc2", 16, 5, 1);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&P, &nn_cpu_backend), NN_OK);
  load_params(&P, "mlp");
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  struct nn_tensor *x = load_tensor(&g, "mlp/x", 2, NN_SHAPE(8, 12), 0);
  struct nn_tensor *t = load_index(&g, "mlp/targets", NN_I32, 1, NN_SHAPE(8));
  struct nn_tensor *logits = lin(&g, &P, "fc2", nn_relu(&g, lin(&g, &P, "fc1", x)));
  finish_model(&g, &P, "mlp", logits, nn_cross_entropy(&g, logits, t, -100));
  nn_graph_destroy(&g);
  nn_params_free(&P);
}

/* Pre-norm block: x + proj(attn(ln1 x)), + fc2(gelu(fc1(ln2 .))), head, cross-entropy; B=2,T=5,C=8, 2 heads. */
static void test_block(void) {
  const int64_t B = 2, T = 5, C = 8, V = 7;
  struct nn_params P;
  nn_params_init(&P);
  nn_declare_layernorm(&P, "ln1", C);
  const char *lins[] = {"attn.query", "attn.key", "attn.value", "attn.proj"};
  for (int i = 0; i < 4; i++) nn_declare_linear(&P, lins[i], C, C, 1);
  nn_declare_layernorm(&P, "ln2", C);
  nn_declare_linear(&P, "mlp.fc1", C, 4 * C, 1);
  nn_declare_linear(&P, "mlp.fc2", 4 * C, C, 1);
  nn_declare_linear(&P, "head", C, V, 1);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&P, &nn_cpu_backend), NN_OK);
  load_params(&P, "block");
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  struct nn_tensor *x = load_tensor(&g, "block/x", 3, NN_SHAPE(B, T, C), 0);
  struct nn_tensor *t = load_index(&g, "block/targets", NN_I32, 2, NN_SHAPE(B, T));
  struct nn_tensor *a = ln(&g, &P, "ln1", x);
  struct nn_tensor *y = nn_attention(&g, lin(&g, &P, "attn.query", a), lin(&g, &P, "attn.key", a),
                                     lin(&g, &P, "attn.value", a), 2, 1, 0.0f);
  struct nn_tensor *h = nn_add(&g, x, lin(&g, &P, "attn.proj", y));
  struct nn_tensor *m = lin(&g, &P, "mlp.fc2", nn_gelu_tanh(&g, lin(&g, &P, "mlp.fc1", ln(&g, &P, "ln2", h))));
  struct nn_tensor *logits = lin(&g, &P, "head", nn_add(&g, h, m));
  finish_model(&g, &P, "block", logits, nn_cross_entropy(&g, logits, t, -100));
  nn_graph_destroy(&g);
  nn_params_free(&P);
}

/* One op case of ops/<name>: inputs in0.. (shapes given), y = op(inputs), backward from gy;
 * compares y and every input gradient. */
struct op_case {
  const char *name;
  int nin;
  int ndim;
  int64_t shape[3][3];
};

static struct nn_tensor *op_build(struct nn_graph *g, const char *name, struct nn_tensor **in) {
  char ds[128];
  if (!strcmp(name, "softmax_mask_causal")) {
    snprintf(ds, sizeof ds, "ops/%s/mask", name);
    return nn_softmax(g, in[0], load_tensor(g, ds, 2, NN_SHAPE(3, 5), 0), 1);
  }
  if (!strcmp(name, "attention_cross")) return nn_attention(g, in[0], in[1], in[2], 3, 0, 0.0f);
  if (!strcmp(name, "attention_causal_cache")) return nn_attention(g, in[0], in[1], in[2], 2, 1, 0.0f);
  if (!strcmp(name, "rope_pos5")) return nn_rope(g, in[0], 2, 5, 10000.0f);
  if (!strcmp(name, "layernorm_plain")) return nn_layernorm(g, in[0], NULL, NULL, 1e-5f);
  snprintf(ds, sizeof ds, "ops/%s/targets", name);
  return nn_cross_entropy(g, in[0], load_index(g, ds, NN_I64, 2, NN_SHAPE(2, 4)), 3);
}

static void test_ops(void) {
  static const struct op_case cases[] = {
      {"softmax_mask_causal", 1, 3, {{2, 3, 5}}},
      {"attention_cross", 3, 3, {{2, 3, 9}, {2, 4, 9}, {2, 4, 9}}},
      {"attention_causal_cache", 3, 3, {{2, 3, 8}, {2, 5, 8}, {2, 5, 8}}},
      {"rope_pos5", 1, 3, {{2, 3, 12}}},
      {"layernorm_plain", 1, 3, {{3, 2, 7}}},
      {"cross_entropy_ignore", 1, 3, {{2, 4, 6}}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const struct op_case *k = &cases[c];
    struct nn_graph g;
    nn_graph_init(&g, &nn_cpu_backend, 0);
    struct nn_tensor *in[3];
    char ds[128], ds2[160];
    for (int i = 0; i < k->nin; i++) {
      snprintf(ds, sizeof ds, "ops/%s/in%d", k->name, i);
      in[i] = load_tensor(&g, ds, k->ndim, k->shape[i], 1);
    }
    struct nn_tensor *y = op_build(&g, k->name, in);
    CU_ASSERT_FATAL(y != NULL);
    float *gy = malloc(sizeof(float) * (size_t)y->numel);
    snprintf(ds, sizeof ds, "ops/%s/gy", k->name);
    load_into(gy, ds, y->numel);
    CU_ASSERT_EQUAL_FATAL(nn_backward_from(&g, y, gy), NN_OK);
    snprintf(ds, sizeof ds, "ops/%s/y", k->name);
    check(ds, y->data, ds, y->numel, FLOOR);
    for (int i = 0; i < k->nin; i++) {
      snprintf(ds, sizeof ds, "ops/%s/grad%d", k->name, i);
      snprintf(ds2, sizeof ds2, "%s (input %d)", ds, i);
      check(ds2, in[i]->grad, ds, in[i]->numel, FLOOR);
    }
    free(gy);
    nn_graph_destroy(&g);
  }
}

/* Naive attention out(B,T,C) in double: per head softmax(q k^T / sqrt(D), causal s > t + S - T
 * excluded), dropout keyed as nn_attention documents (the graph's first random stream), @ v. */
static void naive_attention(float *out, const float *q, const float *k, const float *v, int64_t B, int64_t T,
                            int64_t S, int64_t C, int64_t H, int causal, float p, const struct nn_graph *g) {
  int64_t D = C / H;
  double *w = malloc(sizeof(double) * (size_t)S);
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t t = 0; t < T; t++) {
        double m = -INFINITY, sum = 0;
        for (int64_t s = 0; s < S; s++) {
          double dot = 0;
          for (int64_t d = 0; d < D; d++) dot += (double)q[(b * T + t) * C + h * D + d] * k[(b * S + s) * C + h * D + d];
          w[s] = causal && s > t + S - T ? -INFINITY : dot / sqrt((double)D);
          if (w[s] > m) m = w[s];
        }
        for (int64_t s = 0; s < S; s++) sum += (w[s] = exp(w[s] - m));
        for (int64_t s = 0; s < S; s++) {
          w[s] /= sum;
          if (g->training && p > 0) {
            uint64_t key = (uint64_t)((g->sample_base + b * g->sample_stride) * H * T * S + (h * T + t) * S + s);
            w[s] = nn_dropout_keep(g->seed, NN_RNG_STREAM_OPS, (uint64_t)g->step, key, p) ? w[s] / (1.0 - p) : 0.0;
          }
        }
        for (int64_t d = 0; d < D; d++) {
          double o = 0;
          for (int64_t s = 0; s < S; s++) o += w[s] * v[(b * S + s) * C + h * D + d];
          out[(b * T + t) * C + h * D + d] = (float)o;
        }
      }
  free(w);
}

/* The fused attention matches the naive reference, dropout mask included (several shapes, causal
 * blocks, parallel pairs, keys offset by sample_base / sample_stride, eval mode without dropout). */
static void test_attention_reference(void) {
  static const struct {
    int64_t B, T, S, C, H;
    int causal, training;
    float p;
  } cases[] = {
      {2, 3, 4, 6, 2, 0, 1, 0.3f}, {2, 70, 70, 8, 2, 1, 1, 0.1f}, {3, 65, 67, 12, 4, 1, 1, 0.5f},
      {2, 5, 5, 6, 3, 1, 0, 0.5f}, {1, 130, 130, 4, 1, 1, 1, 0.0f},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int64_t B = cases[c].B, T = cases[c].T, S = cases[c].S, C = cases[c].C;
    struct nn_graph g;
    nn_graph_init(&g, &nn_cpu_backend, 0);
    g.seed = 42;
    g.step = 3;
    g.sample_base = 5;
    g.sample_stride = 3;
    g.training = cases[c].training;
    struct nn_tensor *x[3];
    for (int i = 0; i < 3; i++) {
      x[i] = nn_new(&g, NN_F32, 3, NN_SHAPE(B, i ? S : T, C));
      for (int64_t j = 0; j < x[i]->numel; j++) x[i]->data[j] = nn_rng_normal(9, (uint32_t)i, c, (uint64_t)j);
      x[i]->requires_grad = 1;
    }
    struct nn_tensor *y = nn_attention(&g, x[0], x[1], x[2], (int)cases[c].H, cases[c].causal, cases[c].p);
    float *ref = malloc(sizeof(float) * (size_t)y->numel);
    naive_attention(ref, x[0]->data, x[1]->data, x[2]->data, B, T, S, C, cases[c].H, cases[c].causal, cases[c].p, &g);
    double err = fx_max_rel(y->data, ref, y->numel, FLOOR);
    printf("\n    attention B%lld T%lld S%lld C%lld H%lld causal %d p %.1f train %d: max rel err %.2e", (long long)B,
           (long long)T, (long long)S, (long long)C, (long long)cases[c].H, cases[c].causal, cases[c].p,
           cases[c].training, err);
    CU_ASSERT(err <= TOL);
    free(ref);
    nn_graph_destroy(&g);
  }
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("parity", suite_init, suite_clean);
  CU_add_test(s, "two-layer MLP vs PyTorch", test_mlp);
  CU_add_test(s, "pre-norm attention block vs PyTorch", test_block);
  CU_add_test(s, "single ops vs PyTorch", test_ops);
  CU_add_test(s, "fused attention vs naive reference with dropout", test_attention_reference);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int failures = (int)(CU_get_number_of_failures() + CU_get_number_of_suites_failed());
  CU_cleanup_registry();
  return failures ? 1 : 0;
}
