/* Checkpoint write and read time and MB/s for one flat buffer.
 *   mpiexec -n N bench_ckpt [--mb 100] [--reps 3] [--adam] [--dir /tmp] [--warm]
 * --mb: size of the parameter buffer (MB); --adam adds the two Adam state buffers (3x the bytes);
 * reads are cold (each file's pages are dropped from the page cache after the write with
 * posix_fadvise) unless --warm. Times are the slowest rank's, from a barrier to the end of the
 * collective call; write includes fsync, rename and `latest`; read is ckpt_load (resolve separate). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ckpt_common.h"
#include "comm.h"

static struct comm C;

/* Drop the cached pages of the files of checkpoint directory dir (rank 0 does all). */
static void drop_cache(const char *dir, int nranks) {
  char p[1200];
  for (int r = -1; r < nranks; r++) {
    if (r < 0) snprintf(p, sizeof p, "%s/meta.h5", dir);
    else snprintf(p, sizeof p, "%s/shard-%05d-of-%05d.h5", dir, r, nranks);
    int fd = open(p, O_RDONLY);
    if (fd < 0) continue;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
}

/* Seconds of the slowest rank for the status-returning call between the two timestamps. */
static double slowest(double t0) {
  double t = MPI_Wtime() - t0;
  MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, C.world);
  return t;
}

static void check(nn_status st, const char *what) {
  if (st == NN_OK) return;
  fprintf(stderr, "rank %d: %s: %s\n", C.rank, what, nn_errmsg());
  comm_abort(&C, 1);
}

int main(int argc, char **argv) {
  check(comm_init(&C, &argc, &argv), "comm_init");
  double mb = 100;
  int reps = 3, adam = 0, warm = 0;
  const char *base = "/tmp";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atof(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc) base = argv[++i];
    else if (!strcmp(argv[i], "--adam")) adam = 1;
    else if (!strcmp(argv[i], "--warm")) warm = 1;
  }
  char root[1024] = "";
  if (C.rank == 0) {
    snprintf(root, sizeof root, "%s/bench_ckpt_XXXXXX", base);
    if (!mkdtemp(root)) check(NN_ERR_IO, "mkdtemp");
  }
  check(comm_bcast(&C, root, sizeof root, 0), "bcast");
  struct nn_params P;
  struct nn_optim o;
  int64_t n = (int64_t)(mb * 1e6 / 4);
  nn_params_init(&P);
  nn_declare_linear(&P, "layer", 1000, n / 1000, 1);
  check(nn_params_alloc(&P, &nn_cpu_backend), "alloc");
  if (adam) ck_adam(&o, &P);
  ck_fill(&P, adam ? &o : NULL, 1);
  double bytes = 4.0 * (double)(P.total + (adam ? 2 * P.trainable : 0));
  if (C.rank == 0)
    printf("bench_ckpt: %d rank%s, %.1f MB per checkpoint (%s), %s reads, in %s\n", C.size, C.size > 1 ? "s" : "",
           bytes / 1e6, adam ? "params + Adam m, v" : "params", warm ? "warm" : "cold", root);
  double best_w = 1e30, best_r = 1e30, sum_w = 0, sum_r = 0;
  for (int k = 0; k < reps; k++) {
    struct ckpt_state s = ck_state(k + 1);
    char path[1100];
    comm_barrier(&C);
    double t0 = MPI_Wtime();
    check(ckpt_save(&C, root, &s, &P, adam ? &o : NULL, 2), "save");
    double tw = slowest(t0);
    check(ckpt_resolve(&C, root, 1, path, sizeof path), "resolve");
    if (!warm && C.rank == 0) drop_cache(path, C.size);
    comm_barrier(&C);
    t0 = MPI_Wtime();
    check(ckpt_load(&C, path, &s, &P, adam ? &o : NULL), "load");
    double tr = slowest(t0);
    if (C.rank == 0)
      printf("  rep %d: write %.3f s (%.0f MB/s), read %.3f s (%.0f MB/s)\n", k, tw, bytes / 1e6 / tw, tr,
             bytes / 1e6 / tr);
    best_w = tw < best_w ? tw : best_w;
    best_r = tr < best_r ? tr : best_r;
    sum_w += tw;
    sum_r += tr;
  }
  if (ck_diff(&P, adam ? &o : NULL, 1) != 0) check(NN_ERR_STATE, "values changed by the round trip");
  if (C.rank == 0) {
    printf("best: write %.3f s (%.0f MB/s), read %.3f s (%.0f MB/s); mean write %.3f s, read %.3f s\n", best_w,
           bytes / 1e6 / best_w, best_r, bytes / 1e6 / best_r, sum_w / reps, sum_r / reps);
    ck_rmrf(root);
  }
  if (adam) nn_optim_free(&o);
  nn_params_free(&P);
  comm_finalize(&C);
  return 0;
}
