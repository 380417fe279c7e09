/* bench_ops: median time and achieved GFLOP/s of matmul, conv2d and attention forward+backward at
 * realistic shapes, next to plain cblas_sgemm at 1024^3 measured in the same run.
 * Usage: bench_ops [--threads N] [--reps N] [--only SUBSTRING] [--cpu-clock] [--split]
 * --cpu-clock times with this process's CPU clock (1 thread on a loaded machine; both the sgemm
 * reference and the rows).
 * --split adds forward and backward GFLOP/s columns, each as a fraction of an sgemm reference
 * measured again right before the row (median of 7: back-to-back ratios on a noisy machine).
 * FLOP counts: 2*M*N*K per gemm; conv 2*N*O*Ho*Wo*C*KH*KW forward, x3 forward+backward (x2 when
 * the input takes no gradient, as a network's first layer);
 * attention 4*B*T*S*C forward, x3 forward+backward (causal: half). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nn.h"
#include "bench/bench_util.h"

static int reps = 5, split, threads = 1;
static const char *only;
static double sgemm_gflops;

static double now_ms(void) { return bench_now_ms(); }

/* A persistent float tensor (outside any arena) with values in [-1,1) and, when grad, a gradient. */
static struct nn_tensor *bench_tensor(int ndim, const int64_t *shape, int grad) {
  struct nn_tensor *t = calloc(1, sizeof *t);
  nn_tensor_set_shape(t, ndim, shape);
  t->dtype = NN_F32;
  t->param_index = -1;
  t->data = nn_be_alloc(&nn_cpu_backend, sizeof(float) * (size_t)t->numel);
  uint32_t h = 12345u;
  for (int64_t i = 0; i < t->numel; i++) { /* a cheap LCG: the values do not matter, only their range */
    h = h * 1664525u + 1013904223u;
    t->data[i] = (float)(h >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
  if (grad) {
    t->grad = nn_be_alloc(&nn_cpu_backend, sizeof(float) * (size_t)t->numel);
    memset(t->grad, 0, sizeof(float) * (size_t)t->numel);
    t->requires_grad = 1;
  }
  return t;
}

static void bench_tensor_free(struct nn_tensor *t) {
  if (!t) return;
  nn_be_free(&nn_cpu_backend, t->data);
  nn_be_free(&nn_cpu_backend, t->grad);
  free(t);
}

/* One benchmarked case: build() runs the op's forward on g and returns its output. */
struct bench_case {
  struct nn_tensor *in[4];
  int64_t a[8]; /* op attributes */
  struct nn_tensor *(*build)(struct nn_graph *g, struct bench_case *c);
};

/* Print one table row. */
static void bench_row(const char *name, double ms, double flops) {
  double gf = flops / (ms * 1e6);
  printf("%-46s %9.3f ms %9.1f GFLOP/s %7.2f x sgemm\n", name, ms, gf, gf / sgemm_gflops);
  fflush(stdout);
}

/* With --split: forward and backward rates (medians fms, bms of fflops, bflops) against sgemm measured now. */
static void bench_split_row(double fms, double fflops, double bms, double bflops) {
  double ref = bench_sgemm_gflops(1024, threads, 7), f = fflops / (fms * 1e6), b = bflops / (bms * 1e6);
  printf("%-46s fwd %7.1f GFLOP/s %5.2f x   bwd %7.1f GFLOP/s %5.2f x   (sgemm now %.1f)\n", "", f, f / ref, b,
         b / ref, ref);
  fflush(stdout);
}

/* Median ms of forward+backward of c over reps runs (after one warm-up run), printed as a row; the
 * backward starts from a dy already written (its writing is not timed). */
static void bench_run(const char *name, struct bench_case *c, double flops, double fwd_flops) {
  if (only && !strstr(name, only)) return;
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  double *t = malloc(sizeof(double) * (size_t)reps), *tf = malloc(sizeof(double) * (size_t)reps),
         *tb = malloc(sizeof(double) * (size_t)reps);
  float *seed = NULL;
  for (int r = -1; r < reps; r++) {
    nn_graph_reset(&g);
    double t0 = now_ms();
    struct nn_tensor *y = c->build(&g, c);
    double t1 = now_ms();
    if (!y) {
      printf("%-46s failed: %s\n", name, nn_errmsg());
      break;
    }
    if (!seed) {
      seed = malloc(sizeof(float) * (size_t)y->numel);
      for (int64_t i = 0; i < y->numel; i++) seed[i] = 1e-3f * (float)(i % 7);
    }
    /* dy written outside the timing: in a network the next layer's backward produces it */
    float *dy = nn_grad(&g, y);
    if (dy) memcpy(dy, seed, sizeof(float) * (size_t)y->numel);
    double t2 = now_ms();
    if (!dy || nn_backward_from(&g, y, NULL) != NN_OK) {
      printf("%-46s backward failed: %s\n", name, nn_errmsg());
      break;
    }
    if (r >= 0) tf[r] = t1 - t0, tb[r] = now_ms() - t2, t[r] = tf[r] + tb[r];
    if (r == reps - 1) {
      bench_row(name, bench_median(t, reps), flops);
      if (split) bench_split_row(bench_median(tf, reps), fwd_flops, bench_median(tb, reps), flops - fwd_flops);
    }
  }
  free(seed);
  free(t);
  free(tf);
  free(tb);
  nn_graph_destroy(&g);
  for (int i = 0; i < 4; i++) bench_tensor_free(c->in[i]);
}

/* ---- matmul ---- */
static struct nn_tensor *build_matmul(struct nn_graph *g, struct bench_case *c) {
  return nn_matmul(g, c->in[0], c->in[1], 0, 0);
}
static struct nn_tensor *build_linear(struct nn_graph *g, struct bench_case *c) {
  return nn_linear(g, c->in[0], c->in[1], c->in[2]);
}

/* matmul (m,k) @ (k,n) forward+backward: 3 gemms */
static void bench_matmul(int64_t m, int64_t n, int64_t k) {
  char name[96];
  snprintf(name, sizeof name, "matmul %lldx%lldx%lld fwd+bwd", (long long)m, (long long)n, (long long)k);
  struct bench_case c = {.in = {bench_tensor(2, NN_SHAPE(m, k), 1), bench_tensor(2, NN_SHAPE(k, n), 1)},
                         .build = build_matmul};
  bench_run(name, &c, 3 * 2.0 * m * n * k, 2.0 * m * n * k);
}

/* linear x(rows,in) -> (rows,out) with bias, forward+backward: 3 gemms */
static void bench_linear(int64_t rows, int64_t in, int64_t out) {
  char name[96];
  snprintf(name, sizeof name, "linear %lldx%lld->%lld fwd+bwd", (long long)rows, (long long)in, (long long)out);
  struct bench_case c = {.in = {bench_tensor(2, NN_SHAPE(rows, in), 1), bench_tensor(2, NN_SHAPE(out, in), 1),
                                bench_tensor(1, NN_SHAPE(out), 1)},
                         .build = build_linear};
  bench_run(name, &c, 3 * 2.0 * rows * in * out, 2.0 * rows * in * out);
}

/* ---- conv2d ---- */
static struct nn_tensor *build_conv(struct nn_graph *g, struct bench_case *c) {
  return nn_conv2d(g, c->in[0], c->in[1], c->in[2], c->a[0], c->a[1]);
}

/* conv2d x(n,cin,h,w) with w(cout,cin,k,k) + bias forward+backward; x takes a gradient when xgrad; the
 * "r50" rows have no bias, as ResNet's convolutions (a bias is one more pass over y and dy) */
static void bench_conv(const char *tag, int64_t n, int64_t cin, int64_t h, int64_t cout, int64_t k, int64_t stride,
                       int64_t pad, int xgrad) {
  char name[112];
  int64_t ho = (h + 2 * pad - k) / stride + 1;
  int bias = strncmp(tag, "r50", 3) != 0;
  snprintf(name, sizeof name, "conv2d %s N%lld %lldx%lld %lld->%lld k%lld s%lld p%lld%s%s", tag, (long long)n,
           (long long)h, (long long)h, (long long)cin, (long long)cout, (long long)k, (long long)stride,
           (long long)pad, bias ? "" : " nobias", xgrad ? "" : " (no dx)");
  if (only && !strstr(name, only)) return;
  struct bench_case c = {.in = {bench_tensor(4, NN_SHAPE(n, cin, h, h), xgrad), bench_tensor(4, NN_SHAPE(cout, cin, k, k), 1),
                                bias ? bench_tensor(1, NN_SHAPE(cout), 1) : NULL},
                         .a = {stride, pad},
                         .build = build_conv};
  double fwd = 2.0 * n * cout * ho * ho * cin * k * k;
  bench_run(name, &c, (xgrad ? 3 : 2) * fwd, fwd);
}

/* ---- attention (nn_attention from src/ops/attn.h) ---- */
static struct nn_tensor *build_attn(struct nn_graph *g, struct bench_case *c) {
  return nn_attention(g, c->in[0], c->in[1], c->in[2], (int)c->a[0], (int)c->a[1], 0.0f);
}

/* attention q(b,t,c), k/v(b,t,c) with heads, forward+backward */
static void bench_attn(int64_t b, int64_t t, int64_t ch, int64_t heads, int causal) {
  char name[96];
  snprintf(name, sizeof name, "attention B%lld T%lld C%lld h%lld%s fwd+bwd", (long long)b, (long long)t,
           (long long)ch, (long long)heads, causal ? " causal" : "");
  struct bench_case c = {.in = {bench_tensor(3, NN_SHAPE(b, t, ch), 1), bench_tensor(3, NN_SHAPE(b, t, ch), 1),
                                bench_tensor(3, NN_SHAPE(b, t, ch), 1)},
                         .a = {heads, causal},
                         .build = build_attn};
  bench_run(name, &c, 3 * 4.0 * b * t * t * ch * (causal ? 0.5 : 1.0), 4.0 * b * t * t * ch * (causal ? 0.5 : 1.0));
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else if (!strcmp(argv[i], "--cpu-clock")) bench_cpu_clock = 1;
    else if (!strcmp(argv[i], "--split")) split = 1;
    else {
      fprintf(stderr, "usage: %s [--threads N] [--reps N] [--only SUBSTRING] [--cpu-clock] [--split]\n", argv[0]);
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  nn_backend_set_threads(&nn_cpu_backend, threads);
  sgemm_gflops = bench_sgemm_gflops(1024, threads, reps < 11 ? 11 : reps);
  printf("bench_ops: %d thread(s), median of %d runs\n", threads, reps);
  bench_row("cblas_sgemm 1024x1024x1024 (reference)", 2.0 * 1024 * 1024 * 1024 / (sgemm_gflops * 1e6),
            2.0 * 1024 * 1024 * 1024);

  bench_matmul(1024, 1024, 1024);
  bench_linear(4096, 512, 512);  /* GPT: tokens x d_model -> d_model (attention projections) */
  bench_linear(4096, 512, 2048); /* GPT: MLP up-projection */
  bench_linear(4096, 2048, 512); /* GPT: MLP down-projection */

  /* MNIST CNN (models/cnn.c): 28x28 -> conv 5x5 -> pool -> conv 5x5; the first layer's input takes no gradient */
  bench_conv("mnist1", 256, 1, 28, 32, 5, 1, 0, 0);
  bench_conv("mnist2", 256, 32, 12, 64, 5, 1, 0, 1);
  /* ResNet: 3x3 at 56x56, a stride-2 3x3, a 1x1 stride-2 downsample; CIFAR-size large batch */
  bench_conv("resnet", 8, 64, 56, 64, 3, 1, 1, 1);
  bench_conv("resnet", 8, 64, 56, 128, 3, 2, 1, 1);
  bench_conv("resnet", 8, 64, 56, 128, 1, 2, 0, 1);
  bench_conv("cifar", 128, 16, 32, 16, 3, 1, 1, 1);
  /* ResNet-50, cifar stem (32x32 input), batch 32: the 3x3 of each stage, its strided first 3x3, and the 1x1s */
  bench_conv("r50 3x3", 32, 64, 32, 64, 3, 1, 1, 1);
  bench_conv("r50 3x3", 32, 128, 16, 128, 3, 1, 1, 1);
  bench_conv("r50 3x3", 32, 256, 8, 256, 3, 1, 1, 1);
  bench_conv("r50 3x3", 32, 512, 4, 512, 3, 1, 1, 1);
  bench_conv("r50 3x3", 32, 128, 32, 128, 3, 2, 1, 1);
  bench_conv("r50 3x3", 32, 512, 8, 512, 3, 2, 1, 1);
  bench_conv("r50 1x1", 32, 64, 32, 256, 1, 1, 0, 1);
  bench_conv("r50 1x1", 32, 256, 32, 64, 1, 1, 0, 1);
  bench_conv("r50 1x1", 32, 512, 16, 128, 1, 1, 0, 1);
  bench_conv("r50 1x1", 32, 256, 8, 1024, 1, 1, 0, 1);
  bench_conv("r50 1x1", 32, 2048, 4, 512, 1, 1, 0, 1);
  bench_conv("r50 1x1", 32, 1024, 8, 2048, 1, 2, 0, 1);
  /* the rest of ResNet-50's distinct shapes (cifar stem, batch 32) */
  bench_conv("r50 3x3", 32, 3, 32, 64, 3, 1, 1, 0); /* stem */
  bench_conv("r50 3x3", 32, 256, 16, 256, 3, 2, 1, 1);
  bench_conv("r50 1x1", 32, 64, 32, 64, 1, 1, 0, 1);
  bench_conv("r50 1x1", 32, 256, 32, 128, 1, 1, 0, 1);
  bench_conv("r50 1x1", 32, 128, 16, 512, 1, 1, 0, 1);
  bench_conv("r50 1x1", 32, 1024, 8, 256, 1, 1, 0, 1);
  bench_conv("r50 1x1", 32, 512, 4, 2048, 1, 1, 0, 1);
  bench_conv("r50 1x1", 32, 256, 32, 512, 1, 2, 0, 1);

  /* ---- attention (placeholder until nn_attention is tuned; shapes of minGPT and a translation encoder) ---- */
  bench_attn(8, 256, 512, 8, 1);
  bench_attn(32, 64, 256, 4, 0);
  return 0;
}
