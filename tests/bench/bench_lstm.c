/* bench_lstm: tokens/s of lstm-attn training steps (zero grad, forward, backward, clamp by value 5,
 * Adam) on random character windows at the chapter's config (hidden 256, sequence 180, batch 256,
 * vocab 65), and the fraction of plain cblas_sgemm's GFLOP/s a step reaches (same run, same threads).
 * Usage: bench_lstm [--threads N] [--steps N] [--batch N] [--block N] [--hidden N] [--layers N]
 *                   [--bidirectional 0|1] [--sgemm N]
 * Model FLOPs per step (tokens = B*T, D directions, C = D*H, V vocab, L layers); every product
 * costs 2 FLOPs per token forward and 4 backward (dx and dW), except the first layer's input
 * projection of the one-hot characters (no dx: 2 + 2):
 *   input projections  4*V*4H*D (layer 0) + 6*C*4H*D per further layer
 *   recurrence         6*H*4H*D*L
 *   attention linears  6*4*C^2 (query, key, value, proj), head 6*C*V
 *   scores             q k^T and p v: 12*T*C per token, halved when causal.
 * Elementwise work (gates, softmax, Adam, ...) is not counted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "model.h"
#include "nn.h"
#include "nn_optim.h"
#include "bench/bench_util.h"

static void check(nn_status s, const char *what) {
  if (s == NN_OK) return;
  fprintf(stderr, "bench_lstm: %s: %s\n", what, nn_errmsg());
  exit(1);
}

static double thread_cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

int main(int argc, char **argv) {
  const char *keys[] = {"batch", "block", "hidden", "layers", "bidirectional"};
  const char *vals[5] = {0};
  int threads = 1, steps = 3;
  int64_t sgemm_n = 2048;
  for (int i = 1; i < argc; i++) {
    int k = -1;
    for (int j = 0; j < 5; j++)
      if (argv[i][0] == '-' && argv[i][1] == '-' && !strcmp(argv[i] + 2, keys[j])) k = j;
    if (i + 1 >= argc) goto usage;
    if (k >= 0) vals[k] = argv[++i];
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--sgemm")) sgemm_n = atoll(argv[++i]);
    else goto usage;
  }
  if (steps < 1) steps = 1;
  const struct model_def *def = model_find("lstm-attn");
  struct cfg c;
  cfg_defaults(&c);
  strcpy(c.model, "lstm-attn");
  for (int j = 0; j < 5; j++)
    if (vals[j]) check(cfg_set(&c, keys[j], vals[j], "option"), keys[j]);
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
  struct nn_optim_cfg oc = nn_optim_defaults(NN_OPT_ADAM);
  check(nn_optim_init(&opt, &P, &oc), "optimizer");
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  g.training = 1;
  g.seed = 1;

  int64_t B = c.batch, T = cfg_int(&c, "block"), H = cfg_int(&c, "hidden"), L = cfg_int(&c, "layers");
  int64_t D = cfg_int(&c, "bidirectional") ? 2 : 1, V = meta.vocab_size, C = D * H;
  int32_t *tokens = malloc(sizeof(int32_t) * (size_t)(B * (T + 1)));
  uint32_t h = 12345u;
  struct ds_batch b = {.n = B, .tokens = tokens};
  double sgemm_before = sgemm_n > 0 ? bench_sgemm_gflops(sgemm_n, threads, 5) : 0.0;
  double *t = malloc(sizeof(double) * (size_t)steps), *tc = malloc(sizeof(double) * (size_t)steps);
  float loss0 = 0, loss1 = 0;
  for (int s = -1; s < steps; s++) {
    for (int64_t i = 0; i < B * (T + 1); i++) {
      h = h * 1664525u + 1013904223u;
      tokens[i] = (int32_t)((h >> 8) % (uint32_t)V);
    }
    double t0 = bench_now_ms(), c0 = thread_cpu_ms();
    nn_graph_reset(&g);
    g.step = s + 1;
    nn_params_zero_grad(&P);
    struct model_out out = {0};
    check(def->forward(self, &g, &P, &b, &out), "forward");
    check(nn_backward(&g, out.loss), "backward");
    nn_clip_grad_value(&P, (float)c.clip_value);
    nn_optim_step(&opt, (float)c.lr);
    if (s >= 0) {
      t[s] = bench_now_ms() - t0;
      tc[s] = thread_cpu_ms() - c0;
    }
    nn_be_to_host(&nn_cpu_backend, &loss1, out.loss->data, sizeof loss1);
    if (s == -1) loss0 = loss1;
  }
  double ms = bench_median(t, steps), cpu_ms = bench_median(tc, steps), tok = (double)B * T;
  double per_tok = 4.0 * V * 4 * H * D + 6.0 * C * 4 * H * D * (L - 1) + 6.0 * H * 4 * H * D * L + 6.0 * 4 * C * C +
                   6.0 * C * V + 12.0 * T * C * (D == 1 ? 0.5 : 1.0);
  double flops = per_tok * tok, step_gf = flops / (ms * 1e6);
  double sgemm_gf = sgemm_n > 0 ? bench_sgemm_gflops(sgemm_n, threads, 5) : 0.0;
  if (sgemm_before > sgemm_gf) sgemm_gf = sgemm_before;
  printf("bench_lstm threads=%d batch=%lld seq=%lld hidden=%lld layers=%lld dirs=%lld params=%lld loss %.4f -> %.4f "
         "arena %.0f MB\n",
         threads, (long long)B, (long long)T, (long long)H, (long long)L, (long long)D, (long long)P.total, loss0, loss1,
         g.mem.peak / 1048576.0);
  printf("median_ms=%.1f %.0f tok/s  model %.1f GFLOP/step  %.1f GFLOP/s  sgemm(%lld) %.1f GFLOP/s  fraction %.3f  "
         "main_thread_cpu_ms=%.1f\n",
         ms, tok / (ms * 1e-3), flops * 1e-9, step_gf, (long long)sgemm_n, sgemm_gf, sgemm_gf > 0 ? step_gf / sgemm_gf : 0,
         cpu_ms);
  free(t);
  free(tc);
  free(tokens);
  nn_graph_destroy(&g);
  nn_optim_free(&opt);
  def->destroy(self);
  nn_params_free(&P);
  return 0;
usage:
  fprintf(stderr, "usage: bench_lstm [--threads N] [--steps N] [--batch N] [--block N] [--hidden N] [--layers N] "
                  "[--bidirectional 0|1] [--sgemm N]\n");
  return 2;
}
