/* bench_comm: MPI_Allreduce bandwidth (bus bandwidth 2(n-1)/n * bytes / time, median over reps)
 * for 1 KB .. 64 MB, then the share of the gradient allreduce hidden behind a simulated backward
 * (a compute loop per parameter, then its gradient is signalled) in both comm_buckets modes.
 * Run: mpirun -np 2 bench_comm [grad_mb=32] [params=32] [bucket_mb=4] [compute_x=1.5] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "comm.h"
#include "nn.h"

static struct comm C;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

static double median(double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* The slowest rank's time since t0 (every rank started together). */
static double timed_max(double t0) {
  double t = MPI_Wtime() - t0;
  MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, C.world);
  return t;
}

/* ---- part 1: allreduce bandwidth ---- */

static void bandwidth(void) {
  const int64_t max_bytes = (int64_t)64 << 20;
  float *x = malloc((size_t)max_bytes);
  for (int64_t i = 0; i < max_bytes / 4; i++) x[i] = 1.0f;
  if (C.rank == 0)
    printf("MPI_Allreduce (float sum, in place), %d ranks, median over reps\n"
           "%10s %6s %12s %12s %12s\n", C.size, "bytes", "reps", "time_us", "algbw_GB/s", "busbw_GB/s");
  for (int64_t bytes = 1024; bytes <= max_bytes; bytes *= 4) {
    int reps = (int)(((int64_t)256 << 20) / bytes);
    reps = reps < 5 ? 5 : reps > 200 ? 200 : reps;
    double *t = malloc(sizeof(double) * (size_t)reps);
    MPI_Allreduce(MPI_IN_PLACE, x, (int)(bytes / 4), MPI_FLOAT, MPI_SUM, C.world); /* warm-up */
    for (int r = 0; r < reps; r++) {
      MPI_Barrier(C.world);
      double t0 = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, x, (int)(bytes / 4), MPI_FLOAT, MPI_SUM, C.world);
      t[r] = timed_max(t0);
    }
    double m = median(t, reps), alg = (double)bytes / m / 1e9;
    if (C.rank == 0)
      printf("%10lld %6d %12.1f %12.3f %12.3f\n", (long long)bytes, reps, m * 1e6, alg,
             alg * 2.0 * (C.size - 1) / C.size);
    free(t);
  }
  free(x);
}

/* ---- part 2: overlap with a simulated backward ---- */

static volatile float sink;

/* Busy the core for `iters` dependent multiply-adds. */
static void compute(int64_t iters) {
  float a = 1.0f;
  for (int64_t i = 0; i < iters; i++) a = a * 0.9999999f + 0.5f;
  sink = a;
}

/* Multiply-adds per second of compute(), the same on every rank (the minimum). */
static double calibrate(void) {
  int64_t n = 1 << 20;
  double t;
  for (;;) {
    double t0 = MPI_Wtime();
    compute(n);
    t = MPI_Wtime() - t0;
    if (t > 0.02) break;
    n *= 2;
  }
  double rate = (double)n / t;
  MPI_Allreduce(MPI_IN_PLACE, &rate, 1, MPI_DOUBLE, MPI_MIN, C.world);
  return rate;
}

/* One backward: per parameter in reverse order, compute, write its gradient, signal it
 * (signal = 0: no communication during backward). Returns the slowest rank's wall time of
 * backward + finish and this rank's wait in finish. */
static double step(struct comm_buckets *B, struct nn_params *P, int64_t iters, int signal,
                   double *wait) {
  struct comm_stats s0, s1;
  comm_buckets_stats(B, &s0);
  MPI_Barrier(C.world);
  double t0 = MPI_Wtime();
  if (signal) comm_buckets_begin(B);
  for (int i = P->n - 1; i >= 0; i--) {
    compute(iters);
    float *g = P->p[i].t.grad;
    for (int64_t j = 0; j < P->p[i].t.numel; j++) g[j] = (float)j;
    if (signal) comm_buckets_grad_ready(B, i);
  }
  nn_status st = comm_buckets_finish(B);
  if (st != NN_OK) {
    fprintf(stderr, "%s\n", nn_errmsg());
    comm_abort(&C, 1);
  }
  double t = timed_max(t0);
  comm_buckets_stats(B, &s1);
  *wait = s1.wait_s - s0.wait_s;
  MPI_Allreduce(MPI_IN_PLACE, wait, 1, MPI_DOUBLE, MPI_MAX, C.world);
  return t;
}

static void overlap(double grad_mb, int nparams, double bucket_mb, double compute_x) {
  struct nn_params P;
  nn_params_init(&P);
  int64_t per = (int64_t)(grad_mb * (1 << 20) / 4 / nparams);
  for (int i = 0; i < nparams; i++) {
    char name[32];
    snprintf(name, sizeof name, "layer%d.weight", i);
    nn_param_declare(&P, name, 1, &per, NN_INIT_ZEROS, 0, 1);
  }
  if (nn_params_alloc(&P, &nn_cpu_backend) != NN_OK) comm_abort(&C, 1);
  double rate = calibrate();
  enum { REPS = 15 };
  const char *names[2] = {"nonblocking", "thread"};
  double t[REPS], w[REPS], t_comm = 0;
  for (int mode = 0; mode < 2; mode++) {
    struct comm_buckets *B;
    if (comm_buckets_create(&B, &C, &P, bucket_mb, 1.0, mode) != NN_OK) {
      fprintf(stderr, "%s\n", nn_errmsg());
      comm_abort(&C, 1);
    }
    if (mode == 0) { /* communication alone: every bucket launched and waited for in finish */
      for (int r = 0; r < REPS; r++) step(B, &P, 0, 0, &w[r]);
      t_comm = median(w, REPS);
      if (C.rank == 0)
        printf("\noverlap: %.1f MB of gradients in %d params, %d buckets (cap %.1f MB, first 1 MB), "
               "%d ranks\nallreduce alone (all buckets in finish): %.2f ms\n",
               grad_mb, nparams, comm_buckets_count(B), bucket_mb, C.size, t_comm * 1e3);
    }
    int64_t iters = (int64_t)(compute_x * t_comm * rate / nparams);
    for (int r = 0; r < REPS; r++) t[r] = step(B, &P, iters, 0, &w[r]);
    double t_serial = median(t, REPS);
    for (int r = 0; r < REPS; r++) t[r] = step(B, &P, iters, 1, &w[r]);
    double t_ovl = median(t, REPS), wait = median(w, REPS);
    double hid_wait = clamp01(1 - wait / t_comm), hid_wall = clamp01((t_serial - t_ovl) / t_comm);
    if (C.rank == 0) {
      if (mode == 0)
        printf("%-12s %11s %11s %11s %11s %12s %12s\n", "mode", "backward_ms", "serial_ms",
               "overlap_ms", "wait_ms", "hidden_wait", "hidden_wall");
      printf("%-12s %11.2f %11.2f %11.2f %11.2f %11.0f%% %11.0f%%\n", names[comm_buckets_mode(B)],
             compute_x * t_comm * 1e3, t_serial * 1e3, t_ovl * 1e3, wait * 1e3, 100 * hid_wait,
             100 * hid_wall);
    }
    comm_buckets_free(B);
  }
  if (C.rank == 0)
    printf("backward_ms: simulated compute; serial: compute then all allreduces; overlap: buckets "
           "launched during backward;\nwait: time in finish; hidden_wait = 1 - wait / allreduce alone; "
           "hidden_wall = (serial - overlap) / allreduce alone\n");
  nn_params_free(&P);
}

int main(int argc, char **argv) {
  if (comm_init(&C, &argc, &argv) != NN_OK) {
    fprintf(stderr, "%s\n", nn_errmsg());
    return 1;
  }
  double grad_mb = argc > 1 ? atof(argv[1]) : 32, bucket_mb = argc > 3 ? atof(argv[3]) : 4;
  int nparams = argc > 2 ? atoi(argv[2]) : 32;
  double compute_x = argc > 4 ? atof(argv[4]) : 1.5;
  if (C.size < 2 && C.rank == 0) printf("bench_comm: run with mpirun -np 2 or more\n");
  bandwidth();
  overlap(grad_mb, nparams, bucket_mb, compute_x);
  comm_finalize(&C);
  return 0;
}
