/* Optimizers, gradient clipping and lr schedules against PyTorch (tests/ref/optim.h5, written by
 * tests/ref/gen_optim.py; the hyper-parameters here mirror that script). */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "fixture.h"
#include "nn.h"

#define STEPS 5
#define TOL 1e-5   /* relative to torch */
#define FLOOR 1e-2 /* floor of |torch| in the relative error: a value crossing 0 (-7e-4 here) keeps
                      the float rounding of its O(0.3) operands, a few 1e-8 absolute */

/* The parameters of the fixture in declaration order, plus a frozen one the optimizers must not touch. */
static const struct {
  const char *name;
  int ndim;
  int64_t shape[2];
  int decay;
} PS[] = {{"l1.weight", 2, {5, 3}, 1}, {"l1.bias", 1, {5}, 0}, {"ln.weight", 1, {3}, 0}, {"l2.weight", 2, {4, 2}, 1}};
#define NP ((int)(sizeof PS / sizeof PS[0]))

static hid_t fx = H5I_INVALID_HID;

/* The fixture's parameters (and a frozen "frozen.weight" of 2x2 ones) on the CPU backend. */
static void make_params(struct nn_params *P) {
  nn_params_init(P);
  for (int i = 0; i < NP; i++) nn_param_declare(P, PS[i].name, PS[i].ndim, PS[i].shape, NN_INIT_ZEROS, 0, PS[i].decay);
  nn_param_declare(P, "frozen.weight", 2, NN_SHAPE(2, 2), NN_INIT_ONES, 0, 1);
  nn_params_freeze(P, "frozen.");
  CU_ASSERT_FATAL(nn_params_alloc(P, &nn_cpu_backend) == NN_OK);
  nn_params_reset(P, 1);
  for (int i = 0; i < NP; i++) {
    char key[64];
    snprintf(key, sizeof key, "init/%s", PS[i].name);
    int64_t n = 0;
    float *x = fx_floats(fx, key, &n);
    CU_ASSERT_FATAL(x && n == P->p[i].t.numel);
    memcpy(P->p[i].t.data, x, sizeof(float) * (size_t)n);
    free(x);
  }
}

/* Set the gradients of step s from the fixture. */
static void set_grads(struct nn_params *P, int s) {
  for (int i = 0; i < NP; i++) {
    char key[64];
    snprintf(key, sizeof key, "grad/%s", PS[i].name);
    float *g = fx_floats(fx, key, NULL);
    CU_ASSERT_FATAL(g != NULL);
    int64_t n = P->p[i].t.numel;
    memcpy(P->p[i].t.grad, g + s * n, sizeof(float) * (size_t)n);
    free(g);
  }
}

struct variant {
  const char *name;
  enum nn_optim_kind kind;
  float lr, momentum;
  int nesterov;
  float wd;
};
static const struct variant VARIANTS[] = {
    {"sgd", NN_OPT_SGD, 0.1f, 0, 0, 0},
    {"sgd_momentum_wd", NN_OPT_SGD, 0.1f, 0.9f, 0, 0.01f},
    {"sgd_nesterov", NN_OPT_SGD, 0.1f, 0.9f, 1, 0.01f},
    {"adam", NN_OPT_ADAM, 1e-2f, 0, 0, 0.01f},
    {"adamw", NN_OPT_ADAMW, 1e-2f, 0, 0, 0.1f},
};

/* 5 steps of variant v (clip: clip_grad_norm_ 1.0 first), every parameter after every step vs torch. */
static void run_variant(const struct variant *v, int clip) {
  char group[64], key[128];
  snprintf(group, sizeof group, "%s%s", v->name, clip ? "_clip" : "");
  struct nn_params P;
  make_params(&P);
  struct nn_optim_cfg cfg = nn_optim_defaults(v->kind);
  cfg.momentum = v->momentum;
  cfg.nesterov = v->nesterov;
  cfg.weight_decay = v->wd;
  struct nn_optim o;
  CU_ASSERT_FATAL(nn_optim_init(&o, &P, &cfg) == NN_OK);
  CU_ASSERT_EQUAL(o.nseg, 3); /* l1.weight | l1.bias + ln.weight | l2.weight */
  float *norms = NULL;
  if (clip) {
    snprintf(key, sizeof key, "%s/norm", group);
    norms = fx_floats(fx, key, NULL);
    CU_ASSERT_FATAL(norms != NULL);
  }
  double worst = 0;
  for (int s = 0; s < STEPS; s++) {
    set_grads(&P, s);
    if (clip) {
      double norm = nn_clip_grad_norm(&P, 1.0f);
      CU_ASSERT(fabs(norm - norms[s]) <= TOL * norms[s]);
    }
    nn_optim_step(&o, v->lr);
    for (int i = 0; i < NP; i++) {
      snprintf(key, sizeof key, "%s/%s", group, PS[i].name);
      float *ref = fx_floats(fx, key, NULL);
      CU_ASSERT_FATAL(ref != NULL);
      int64_t n = P.p[i].t.numel;
      double r = fx_max_rel(P.p[i].t.data, ref + s * n, n, FLOOR);
      if (r > worst) worst = r;
      if (r > TOL) printf("\n  %s step %d %s: relative error %.2e", group, s, PS[i].name, r);
      CU_ASSERT(r <= TOL);
      free(ref);
    }
  }
  struct nn_tensor *frozen = nn_pt(&P, nn_params_find(&P, "frozen.weight"));
  for (int64_t j = 0; j < frozen->numel; j++) CU_ASSERT_EQUAL(frozen->data[j], 1.0f);
  CU_ASSERT_EQUAL(o.t, STEPS);
  printf(" [%s: worst %.1e]", group, worst);
  free(norms);
  nn_optim_free(&o);
  nn_params_free(&P);
}

static void test_optimizers(void) {
  for (size_t k = 0; k < sizeof VARIANTS / sizeof VARIANTS[0]; k++) run_variant(&VARIANTS[k], 0);
}
static void test_optimizers_clipped(void) {
  for (size_t k = 0; k < sizeof VARIANTS / sizeof VARIANTS[0]; k++) run_variant(&VARIANTS[k], 1);
}

/* nn_clip_grad_norm_range's reduce in one process: the partial sums of the shards were added up beforehand. */
static nn_status global_sumsq(void *ctx, double *x, int n) {
  (void)n;
  *x = *(const double *)ctx;
  return NN_OK;
}

/* ZeRO-1's pieces in one process: three optimizers over the ranks' shares [31r/3, 31(r+1)/3) (cut inside
 * l1.weight and inside the no-decay run), each clipping its share by the global norm, give what one optimizer
 * over everything gives: bitwise without clipping, to 1e-6 with it (the norm is summed in another order). */
static void test_shards(void) {
  for (size_t k = 0; k < sizeof VARIANTS / sizeof VARIANTS[0]; k++)
    for (int clip = 0; clip < 2; clip++) {
      const struct variant *v = &VARIANTS[k];
      struct nn_params A, B;
      make_params(&A);
      make_params(&B);
      struct nn_optim_cfg cfg = nn_optim_defaults(v->kind);
      cfg.momentum = v->momentum;
      cfg.nesterov = v->nesterov;
      cfg.weight_decay = v->wd;
      struct nn_optim full, part[3];
      int64_t T = A.trainable, cut[4];
      for (int r = 0; r <= 3; r++) cut[r] = T * r / 3;
      CU_ASSERT_FATAL(T == 31 && cut[1] == 10 && cut[2] == 20); /* inside l1.weight [0, 15), inside [15, 23) */
      CU_ASSERT_FATAL(nn_optim_init(&full, &A, &cfg) == NN_OK);
      for (int r = 0; r < 3; r++) {
        CU_ASSERT_FATAL(nn_optim_init_range(&part[r], &B, &cfg, cut[r], cut[r + 1]) == NN_OK);
        CU_ASSERT(part[r].sliced && part[r].lo == cut[r] && part[r].hi == cut[r + 1]);
      }
      double worst = 0;
      for (int s = 0; s < STEPS; s++) {
        set_grads(&A, s);
        set_grads(&B, s);
        if (clip) {
          double ref = nn_clip_grad_norm(&A, 1.0f), total = 0, norm = -1;
          for (int r = 0; r < 3; r++) total += nn_cpu_backend.k->optim->sumsq(&nn_cpu_backend, B.grad + cut[r], cut[r + 1] - cut[r]);
          for (int r = 0; r < 3; r++) {
            CU_ASSERT(nn_clip_grad_norm_range(&B, cut[r], cut[r + 1], 1.0f, global_sumsq, &total, &norm) == NN_OK);
            CU_ASSERT(fabs(norm - ref) <= 1e-12 * ref);
          }
        }
        nn_optim_step(&full, v->lr);
        for (int r = 0; r < 3; r++) nn_optim_step(&part[r], v->lr);
        double w = fx_max_rel(B.data, A.data, T, FLOOR);
        worst = w > worst ? w : worst;
      }
      CU_ASSERT(worst <= (clip ? 1e-6 : 0));
      if (worst > (clip ? 1e-6 : 0)) printf("\n  %s%s: shards differ by %.2e", v->name, clip ? "_clip" : "", worst);
      /* the shards' state is the full optimizer's, piece by piece */
      for (int r = 0; full.m && r < 3; r++)
        CU_ASSERT(fx_max_rel(part[r].m, full.m + cut[r], cut[r + 1] - cut[r], FLOOR) <= (clip ? 1e-6 : 0));
      nn_optim_free(&full);
      for (int r = 0; r < 3; r++) nn_optim_free(&part[r]);
      nn_params_free(&A);
      nn_params_free(&B);
    }
}

/* State buffers exist only where the optimizer needs them. */
static void test_state(void) {
  struct nn_params P;
  make_params(&P);
  struct nn_optim o;
  struct nn_optim_cfg c = nn_optim_defaults(NN_OPT_SGD);
  CU_ASSERT(nn_optim_init(&o, &P, &c) == NN_OK);
  CU_ASSERT(o.m == NULL && o.v == NULL);
  nn_optim_free(&o);
  c.momentum = 0.9f;
  CU_ASSERT(nn_optim_init(&o, &P, &c) == NN_OK);
  CU_ASSERT(o.m != NULL && o.v == NULL);
  nn_optim_free(&o);
  c = nn_optim_defaults(NN_OPT_ADAMW);
  CU_ASSERT(nn_optim_init(&o, &P, &c) == NN_OK);
  CU_ASSERT(o.m != NULL && o.v != NULL && o.m[0] == 0.0f && o.v[P.trainable - 1] == 0.0f);
  nn_optim_free(&o);
  c = nn_optim_defaults(NN_OPT_SGD);
  c.nesterov = 1; /* nesterov without momentum is refused, as torch does */
  CU_ASSERT(nn_optim_init(&o, &P, &c) == NN_ERR_ARG);
  c = nn_optim_defaults(NN_OPT_ADAM);
  c.beta2 = 1.0f;
  CU_ASSERT(nn_optim_init(&o, &P, &c) == NN_ERR_ARG);
  CU_ASSERT(strstr(nn_errmsg(), "betas") != NULL);
  nn_params_free(&P);
}

/* clip_grad_value_ clamps every gradient; NaN stays NaN; clip_grad_norm_ returns NaN on a NaN gradient. */
static void test_clip_value(void) {
  struct nn_params P;
  make_params(&P);
  set_grads(&P, 0);
  float *before = malloc(sizeof(float) * (size_t)P.trainable);
  memcpy(before, P.grad, sizeof(float) * (size_t)P.trainable);
  nn_clip_grad_value(&P, 0.5f);
  int clamped = 0;
  for (int64_t j = 0; j < P.trainable; j++) {
    float want = before[j] > 0.5f ? 0.5f : before[j] < -0.5f ? -0.5f : before[j];
    CU_ASSERT_EQUAL(P.grad[j], want);
    clamped += want != before[j];
  }
  CU_ASSERT(clamped > 0);
  P.grad[3] = NAN;
  nn_clip_grad_value(&P, 0.5f);
  CU_ASSERT(isnan(P.grad[3]));
  CU_ASSERT(isnan(nn_clip_grad_norm(&P, 1.0f)));
  free(before);
  nn_params_free(&P);
}

/* lr of every schedule vs torch's StepLR(3, 0.5), ExponentialLR(0.9), LambdaLR(warm-up 5, cosine to 20). */
static void test_schedules(void) {
  const struct {
    const char *key;
    struct nn_sched s;
  } cases[] = {
      {"sched/step", {.kind = NN_SCHED_STEP, .base_lr = 0.1f, .gamma = 0.5f, .step_size = 3}},
      {"sched/exp", {.kind = NN_SCHED_EXP, .base_lr = 0.1f, .gamma = 0.9f}},
      {"sched/cosine", {.kind = NN_SCHED_WARMUP_COSINE, .base_lr = 0.1f, .warmup = 5, .total = 20, .min_lr = 1e-3f}},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    CU_ASSERT(nn_sched_check(&cases[k].s) == NN_OK);
    int64_t n = 0;
    float *ref = fx_floats(fx, cases[k].key, &n);
    CU_ASSERT_FATAL(ref != NULL && n >= 20);
    for (int64_t i = 0; i < n; i++) { /* per-epoch schedules get epoch i, per-update ones step i */
      float lr = nn_sched_lr(&cases[k].s, i, i);
      if (fabsf(lr - ref[i]) > 1e-6f * ref[i]) printf("\n  %s[%lld]: %g vs torch %g", cases[k].key, (long long)i, lr, ref[i]);
      CU_ASSERT(fabsf(lr - ref[i]) <= 1e-6f * ref[i]);
    }
    free(ref);
  }
  struct nn_sched c = {.kind = NN_SCHED_CONST, .base_lr = 3e-4f};
  CU_ASSERT_EQUAL(nn_sched_lr(&c, 1000, 7), 3e-4f);
  struct nn_sched bad = {.kind = NN_SCHED_WARMUP_COSINE, .base_lr = 0.1f, .warmup = 10, .total = 10};
  CU_ASSERT(nn_sched_check(&bad) == NN_ERR_ARG);
  bad = (struct nn_sched){.kind = NN_SCHED_STEP, .base_lr = 0.1f, .gamma = 0.5f, .step_size = 0};
  CU_ASSERT(nn_sched_check(&bad) == NN_ERR_ARG);
}

/* Kind names round-trip through the parsers; unknown names are NN_ERR_ARG naming the value. */
static void test_parse(void) {
  for (int k = NN_OPT_SGD; k <= NN_OPT_ADAMW; k++) {
    enum nn_optim_kind o;
    CU_ASSERT(nn_optim_parse_kind(nn_optim_name((enum nn_optim_kind)k), &o) == NN_OK && (int)o == k);
  }
  for (int k = NN_SCHED_CONST; k <= NN_SCHED_WARMUP_COSINE; k++) {
    enum nn_sched_kind s;
    CU_ASSERT(nn_sched_parse_kind(nn_sched_name((enum nn_sched_kind)k), &s) == NN_OK && (int)s == k);
  }
  enum nn_optim_kind o;
  CU_ASSERT(nn_optim_parse_kind("adamx", &o) == NN_ERR_ARG && strstr(nn_errmsg(), "adamx"));
  enum nn_sched_kind s;
  CU_ASSERT(nn_sched_parse_kind("linear", &s) == NN_ERR_ARG && strstr(nn_errmsg(), "linear"));
}

int main(void) {
  fx = fx_open("optim.h5");
  if (fx < 0) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("optim", NULL, NULL);
  CU_add_test(s, "optimizers vs torch", test_optimizers);
  CU_add_test(s, "optimizers after clip_grad_norm vs torch", test_optimizers_clipped);
  CU_add_test(s, "optimizer state buffers and config checks", test_state);
  CU_add_test(s, "optimizers over shards (ZeRO-1) = one optimizer", test_shards);
  CU_add_test(s, "clip by value", test_clip_value);
  CU_add_test(s, "schedules vs torch", test_schedules);
  CU_add_test(s, "kind names and parsers", test_parse);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int failures = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  H5Fclose(fx);
  return failures ? 1 : 0;
}
