/* GPU tests of the CUDA backend (skip with exit 77 and one line when no GPU is usable):
 *  1. a small transformer-like step (embedding, layernorm, attention with dropout, GELU, dropout,
 *     cross-entropy, clipping, AdamW) on cuda matches the same step on cpu: loss, every gradient
 *     and every parameter after 5 steps (relative 1e-4; the dropout masks are the same Philox bits);
 *  2. after the first step the training loop makes no device allocation (cudaMalloc count).
 * Without a GPU it checks only that opening cuda fails for that reason alone (cuBLAS was loaded with
 * dlopen and every function found), then skips.
 * Written without a GPU: compiled in every CUDA build, NEVER RUN on a GPU so far. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn.h"
#include "nn_cuda.h"

static int failures;
#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (cond) {                                            \
      printf("ok   - ");                                   \
    } else {                                               \
      printf("FAIL - ");                                   \
      failures++;                                          \
    }                                                      \
    printf(__VA_ARGS__);                                   \
    printf("\n");                                          \
  } while (0)

enum { B = 4, T = 16, C = 32, V = 19, STEPS = 5 };

struct run {
  struct nn_backend *be;
  struct nn_params P;
  struct nn_optim opt;
  struct nn_graph g;
  int emb, ln, q, k, v, head;
  float loss[STEPS];
  float *grad0;  /* host copy of the gradients of step 0 */
  float *params; /* host copy of the parameters after the last step */
};

static void setup(struct run *r, struct nn_backend *be) {
  r->be = be;
  nn_params_init(&r->P);
  r->emb = nn_declare_embedding(&r->P, "emb", V, C);
  r->ln = nn_declare_layernorm(&r->P, "ln", C);
  r->q = nn_declare_linear(&r->P, "q", C, C, 1);
  r->k = nn_declare_linear(&r->P, "k", C, C, 1);
  r->v = nn_declare_linear(&r->P, "v", C, C, 1);
  r->head = nn_declare_linear(&r->P, "head", C, V, 0);
  if (nn_params_alloc(&r->P, be) != NN_OK) {
    printf("FAIL - parameters on %s: %s\n", be->device, nn_errmsg());
    exit(1);
  }
  nn_params_reset(&r->P, 7);
  struct nn_optim_cfg oc = {.kind = NN_OPT_ADAMW, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
  if (nn_optim_init(&r->opt, &r->P, &oc) != NN_OK) exit(1);
  nn_graph_init(&r->g, be, 1 << 16); /* small chunks: the arena grows during step 1 */
  r->g.training = 1;
  r->g.seed = 42;
}

/* one training step; returns the loss */
static float step(struct run *r, int s) {
  struct nn_graph *g = &r->g;
  struct nn_params *P = &r->P;
  nn_graph_reset(g);
  g->step = s;
  int32_t ids[B * T], tgt[B * T];
  for (int i = 0; i < B * T; i++) ids[i] = (i * 5 + s) % V, tgt[i] = i % 7 == 0 ? -100 : (i * 3 + 1) % V;
  struct nn_tensor *x = nn_new(g, NN_I32, 2, NN_SHAPE(B, T)), *y = nn_new(g, NN_I32, 2, NN_SHAPE(B, T));
  nn_be_to_device(r->be, x->i32, ids, sizeof ids);
  nn_be_to_device(r->be, y->i32, tgt, sizeof tgt);
  struct nn_tensor *h = nn_embedding(g, x, nn_pt(P, r->emb));
  struct nn_tensor *n = nn_layernorm(g, h, nn_pt(P, r->ln), nn_pt(P, r->ln + 1), 1e-5f);
  struct nn_tensor *a = nn_attention(g, nn_linear(g, n, nn_pt(P, r->q), nn_pt(P, r->q + 1)),
                                     nn_linear(g, n, nn_pt(P, r->k), nn_pt(P, r->k + 1)),
                                     nn_linear(g, n, nn_pt(P, r->v), nn_pt(P, r->v + 1)), 4, 1, 0.1f);
  h = nn_dropout(g, nn_gelu_tanh(g, nn_add(g, h, a)), 0.1f);
  struct nn_tensor *loss = nn_cross_entropy(g, nn_linear(g, h, nn_pt(P, r->head), NULL), y, -100);
  nn_params_zero_grad(P);
  if (nn_backward(g, loss) != NN_OK) {
    printf("FAIL - backward on %s: %s\n", r->be->device, nn_errmsg());
    exit(1);
  }
  if (s == 0) {
    r->grad0 = malloc(sizeof(float) * (size_t)P->trainable);
    nn_be_to_host(r->be, r->grad0, P->grad, sizeof(float) * (size_t)P->trainable);
  }
  nn_clip_grad_norm(P, 1.0f);
  nn_optim_step(&r->opt, 1e-2f);
  float lv;
  nn_be_to_host(r->be, &lv, loss->data, sizeof lv);
  return lv;
}

/* max |a - b| / max |b| over n */
static double rel_diff(const float *a, const float *b, int64_t n) {
  double d = 0.0, m = 1e-12;
  for (int64_t i = 0; i < n; i++) {
    d = fmax(d, fabs((double)a[i] - b[i]));
    m = fmax(m, fabs((double)b[i]));
  }
  return d / m;
}

int main(int argc, char **argv) {
  char why[200];
  int probe = argc > 1 && !strcmp(argv[1], "--probe"); /* the scripts' GPU probe: 0 with a GPU, 77 without */
  if (nn_cuda_device_count(why, sizeof why) == 0) {
    if (!probe) { /* what can be checked without a GPU: opening loads cuBLAS and finds every function */
      struct nn_backend *be = NULL;
      nn_status st = nn_backend_open("cuda", &(struct nn_backend_opts){.local_rank = 0}, &be);
      if (st == NN_OK || !strstr(nn_errmsg(), "no usable GPU")) {
        printf("FAIL - without a GPU, opening cuda should fail only for the missing GPU: %s\n",
               st == NN_OK ? "it opened" : nn_errmsg());
        return 1;
      }
    }
    printf("SKIP: gpu_backend: no GPU: %s\n", why);
    return 77;
  }
  if (probe) return 0;
  struct nn_backend *gpu = NULL;
  if (nn_backend_open("cuda", &(struct nn_backend_opts){.local_rank = 0}, &gpu) != NN_OK) {
    printf("FAIL - opening the cuda backend: %s\n", nn_errmsg());
    return 1;
  }
  printf("# cuda backend on %s\n", gpu->device);
  struct run cpu_run = {0}, gpu_run = {0};
  setup(&cpu_run, &nn_cpu_backend);
  setup(&gpu_run, gpu);
  struct nn_cuda_stats st;
  int64_t after_first = 0;
  for (int s = 0; s < STEPS; s++) {
    cpu_run.loss[s] = step(&cpu_run, s);
    gpu_run.loss[s] = step(&gpu_run, s);
    if (s == 0) {
      nn_cuda_get_stats(gpu, &st);
      after_first = st.device_mallocs;
    }
  }
  nn_cuda_get_stats(gpu, &st);
  CHECK(st.device_mallocs == after_first, "no device allocation after step 1 (%lld cudaMalloc calls in steps 2-%d)",
        (long long)(st.device_mallocs - after_first), STEPS);
  CHECK(gpu_run.g.mem.heap_allocs > 1, "the step arena grew during step 1 (%lld chunks)",
        (long long)gpu_run.g.mem.heap_allocs);
  double dl = fabs((double)gpu_run.loss[0] - cpu_run.loss[0]) / fabs((double)cpu_run.loss[0]);
  CHECK(dl < 1e-5, "step-1 loss cuda %.7f == cpu %.7f (rel %.2e)", gpu_run.loss[0], cpu_run.loss[0], dl);
  struct nn_params *P = &cpu_run.P;
  for (int i = 0; i < P->n; i++) {
    if (!P->p[i].trainable) continue;
    double d = rel_diff(gpu_run.grad0 + P->p[i].offset, cpu_run.grad0 + P->p[i].offset, P->p[i].t.numel);
    CHECK(d < 1e-4, "step-1 gradient of %s: cuda == cpu (rel %.2e)", P->p[i].name, d);
  }
  float *pc = malloc(sizeof(float) * (size_t)P->total), *pg = malloc(sizeof(float) * (size_t)P->total);
  nn_be_to_host(&nn_cpu_backend, pc, cpu_run.P.data, sizeof(float) * (size_t)P->total);
  nn_be_to_host(gpu, pg, gpu_run.P.data, sizeof(float) * (size_t)P->total);
  double dp = rel_diff(pg, pc, P->total);
  CHECK(dp < 1e-4, "parameters after %d AdamW steps: cuda == cpu (rel %.2e)", STEPS, dp);
  double dlast = fabs((double)gpu_run.loss[STEPS - 1] - cpu_run.loss[STEPS - 1]) / fabs((double)cpu_run.loss[STEPS - 1]);
  CHECK(dlast < 1e-4, "step-%d loss cuda %.7f == cpu %.7f (rel %.2e)", STEPS, gpu_run.loss[STEPS - 1],
        cpu_run.loss[STEPS - 1], dlast);
  free(pc);
  free(pg);
  struct run *runs[2] = {&cpu_run, &gpu_run};
  for (int i = 0; i < 2; i++) {
    nn_graph_destroy(&runs[i]->g);
    nn_optim_free(&runs[i]->opt);
    nn_params_free(&runs[i]->P);
    free(runs[i]->grad0);
  }
  nn_backend_close(gpu);
  printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
