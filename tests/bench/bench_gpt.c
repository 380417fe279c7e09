/* bench_gpt: tokens/s of full GPT training steps (zero grad, forward, backward, clip 0.5, AdamW) on
 * random token windows, and the fraction of plain cblas_sgemm's GFLOP/s that a step achieves
 * (measured in the same run, same thread count).
 * Usage: bench_gpt [--model gpt|gpt-small] [--threads N] [--steps N] [--batch N] [--block N] [--sgemm N]
 *   --sgemm N: size of the reference square sgemm (default 2048; 0 skips it, e.g. under a profiler)
 * Model FLOPs per step (B batch, T block, C n_embd, L layers, V vocab, tokens = B*T):
 *   matmul weights  Nmm = L * 12*C^2 (query, key, value, proj: 4*C^2; MLP: 8*C^2) + C*V (head);
 *   each weight costs 2 FLOPs per token forward and 4 backward (dx and dW):   6 * Nmm * tokens;
 *   attention per layer: q k^T and p v are 2*B*T*T*C each forward, x3 with backward, and the causal
 *   mask halves the useful part:                                              6 * L * B * T^2 * C.
 * Elementwise work (layernorm, GELU, softmax, AdamW, ...) is not counted. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "model.h"
#include "nn.h"
#include "nn_optim.h"
#include "bench/bench_util.h"

/* milliseconds on clock id (CLOCK_MONOTONIC: wall; CLOCK_THREAD_CPUTIME_ID: this thread's CPU time) */
static double clock_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
static double now_ms(void) { return bench_now_ms(); }

/* minor page faults of this process so far (first touches of fresh memory) */
static long minor_faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

/* Fill tokens(n, T+1) with ids in [0, V) from an LCG. */
static void random_windows(int32_t *tokens, int64_t count, int V, uint32_t *h) {
  for (int64_t i = 0; i < count; i++) {
    *h = *h * 1664525u + 1013904223u;
    tokens[i] = (int32_t)((*h >> 8) % (uint32_t)V);
  }
}

static int usage(const char *prog) {
  fprintf(stderr, "usage: %s [--model gpt|gpt-small] [--threads N] [--steps N] [--batch N] [--block N] [--sgemm N]\n",
          prog);
  return 2;
}

/* Die with the library's message when s is not NN_OK. */
static void check(nn_status s, const char *what) {
  if (s == NN_OK) return;
  fprintf(stderr, "bench_gpt: %s: %s\n", what, nn_errmsg());
  exit(1);
}

int main(int argc, char **argv) {
  const char *model = "gpt-small", *batch = NULL, *block = NULL;
  int threads = 1, steps = 10;
  int64_t sgemm_n = 2048;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) return usage(argv[0]);
    if (!strcmp(argv[i], "--model")) model = argv[++i];
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--batch")) batch = argv[++i];
    else if (!strcmp(argv[i], "--block")) block = argv[++i];
    else if (!strcmp(argv[i], "--sgemm")) sgemm_n = atoll(argv[++i]);
    else return usage(argv[0]);
  }
  if (steps < 1) steps = 1;
  const struct model_def *def = model_find(model);
  if (!def || def->task != &task_lm) {
    fprintf(stderr, "bench_gpt: --model %s is not a text model\n", model);
    return 2;
  }
  struct cfg c;
  cfg_defaults(&c);
  strcpy(c.model, model);
  if (batch) check(cfg_set(&c, "batch", batch, "option --batch"), "--batch");
  if (block) check(cfg_set(&c, "block", block, "option --block"), "--block");
  def->preset(&c);
  nn_backend_set_threads(&nn_cpu_backend, threads);

  struct ds_meta meta = {.kind = DS_TEXT, .vocab_size = 65};
  struct nn_params P;
  nn_params_init(&P);
  void *self = NULL;
  check(def->build(&self, &c, &meta, &P), "build");
  check(nn_params_alloc(&P, &nn_cpu_backend), "parameters");
  nn_params_reset(&P, 1);
  struct nn_optim opt;
  struct nn_optim_cfg oc = nn_optim_defaults(NN_OPT_ADAMW);
  oc.weight_decay = (float)c.weight_decay;
  oc.beta2 = (float)c.beta2;
  check(nn_optim_init(&opt, &P, &oc), "optimizer");
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  g.training = 1;
  g.seed = 1;

  int64_t B = c.batch, T = cfg_int(&c, "block"), C = cfg_int(&c, "n_embd"), L = cfg_int(&c, "n_layer"), V = meta.vocab_size;
  int32_t *tokens = malloc(sizeof(int32_t) * (size_t)(B * (T + 1)));
  struct ds_batch b = {.n = B, .tokens = tokens};
  uint32_t h = 12345u;
  double sgemm_before = sgemm_n > 0 ? bench_sgemm_gflops(sgemm_n, threads, 7) : 0.0;
  /* wall ms per step; and the main thread's CPU ms, which with 1 thread is the step time on a busy machine */
  double *t = malloc(sizeof(double) * (size_t)steps), *tc = malloc(sizeof(double) * (size_t)steps), loss0 = 0.0, loss1 = 0.0;
  long faults = 0;
  for (int s = -2; s < steps; s++) {
    if (s == 0) faults = minor_faults();
    random_windows(tokens, B * (T + 1), (int)V, &h);
    double t0 = now_ms(), c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
    nn_graph_reset(&g);
    g.step = s + 2;
    nn_params_zero_grad(&P);
    struct model_out out = {0};
    check(def->forward(self, &g, &P, &b, &out), "forward");
    check(nn_backward(&g, out.loss), "backward");
    nn_clip_grad_norm(&P, 0.5f);
    nn_optim_step(&opt, (float)c.lr);
    if (s >= 0) {
      t[s] = now_ms() - t0;
      tc[s] = clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
    }
    float lv;
    nn_be_to_host(&nn_cpu_backend, &lv, out.loss->data, sizeof lv);
    if (s == -2) loss0 = lv;
    loss1 = lv;
  }
  faults = minor_faults() - faults;
  double ms = bench_median(t, steps), cpu_ms = bench_median(tc, steps);
  double n_mm = (double)L * 12.0 * C * C + (double)C * V, tok = (double)B * T;
  double flops = 6.0 * n_mm * tok + 6.0 * L * B * (double)T * T * C;
  /* the reference: the better of two sgemm medians, before and after the steps (a busy machine
   * slows one of them down more often than both); 0 when skipped */
  double step_gf = flops / (ms * 1e6), sgemm_gf = sgemm_n > 0 ? bench_sgemm_gflops(sgemm_n, threads, 7) : 0.0;
  if (sgemm_n > 0 && sgemm_before > sgemm_gf) sgemm_gf = sgemm_before;
  printf("bench_gpt model=%s threads=%d batch=%lld block=%lld n_embd=%lld n_layer=%lld params=%lld "
         "loss %.6f -> %.6f\n  step arena %.1f MB, %.1f page faults per timed step\n",
         model, threads, (long long)B, (long long)T, (long long)C, (long long)L, (long long)P.total, loss0, loss1,
         g.mem.peak / 1048576.0, (double)faults / steps);
  printf("median_ms=%.2f %.0f tok/s  model %.2f GFLOP/step  %.1f GFLOP/s  sgemm(%lld) %.1f GFLOP/s  "
         "fraction %.3f  main_thread_cpu_ms=%.2f\n",
         ms, tok / (ms * 1e-3), flops * 1e-9, step_gf, (long long)sgemm_n, sgemm_gf, sgemm_gf > 0 ? step_gf / sgemm_gf : 0.0, cpu_ms);
  free(t);
  free(tc);
  free(tokens);
  nn_graph_destroy(&g);
  nn_optim_free(&opt);
  def->destroy(self);
  nn_params_free(&P);
  return 0;
}
