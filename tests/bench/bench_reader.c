/* bench_reader: examples/s read from an image dataset (e.g. 4-shard Fashion-MNIST) by every MPI rank,
 * through the prefetching loader and through ds_read_images directly; rank 0 prints per rank and aggregate.
 * usage: mpirun -np 2 bench_reader DIR [epochs=3] [batch=256] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include "ds.h"

static double now(void) { return MPI_Wtime(); }

/* Examples/s of this rank over `epochs` epochs of the loader; *sum gets a checksum of what was read. */
static double run_loader(struct ds_reader *r, struct ds_sampler *s, int64_t batch, int epochs, int64_t *n, uint64_t *sum) {
  struct ds_loader *L;
  if (ds_loader_start(&L, r, s, batch, 0) != NN_OK) return -1;
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now();
  for (int e = 0; e < epochs;) {
    struct ds_batch *b;
    if (ds_loader_next(L, &b) != NN_OK) {
      ds_loader_stop(L);
      return -1;
    }
    if (b->n == 0) e++;
    for (int64_t i = 0; i < b->n; i++) *sum += b->pixels[i * 784 + 400] + (uint64_t)b->labels[i];
    *n += b->n;
  }
  double t = now() - t0;
  ds_loader_stop(L);
  return (double)*n / t;
}

/* Examples/s of this rank calling ds_read_images for the same batches, no thread. */
static double run_direct(struct ds_reader *r, struct ds_sampler *s, int64_t batch, int epochs, int64_t *n) {
  const struct ds_meta *m = ds_get_meta(r);
  int64_t *idx = malloc(sizeof(int64_t) * (size_t)batch);
  uint8_t *px = malloc((size_t)(batch * m->c * m->h * m->w));
  int32_t *lb = malloc(sizeof(int32_t) * (size_t)batch);
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now();
  for (int e = 0; e < epochs; e++) {
    ds_sampler_set_epoch(s, 100 + e);
    for (int64_t k; (k = ds_sampler_next(s, batch, idx)) > 0; *n += k)
      if (ds_read_images(r, idx, k, px, lb) != NN_OK) return -1;
  }
  double t = now() - t0;
  free(idx), free(px), free(lb);
  return (double)*n / t;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 2) {
    if (!rank) fprintf(stderr, "usage: bench_reader DIR [epochs=3] [batch=256]\n");
    MPI_Finalize();
    return 2;
  }
  int epochs = argc > 2 ? atoi(argv[2]) : 3;
  int64_t batch = argc > 3 ? atoll(argv[3]) : 256;
  struct ds_reader *r;
  if (ds_open(&r, argv[1], "train") != NN_OK) {
    fprintf(stderr, "rank %d: %s\n", rank, nn_errmsg());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  const struct ds_meta *m = ds_get_meta(r);
  struct ds_sampler s;
  ds_sampler_init(&s, m->count, rank, size, 1234, 1, 1);
  int64_t n1 = 0, n2 = 0;
  uint64_t sum = 0;
  double rate[2] = {run_loader(r, &s, batch, epochs, &n1, &sum), run_direct(r, &s, batch, epochs, &n2)};
  if (rate[0] < 0 || rate[1] < 0) {
    fprintf(stderr, "rank %d: %s\n", rank, nn_errmsg());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  double lo[2], total[2];
  MPI_Reduce(rate, lo, 2, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD);
  MPI_Reduce(rate, total, 2, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  if (!rank) {
    printf("bench_reader: %s split train, %lld examples in %d shards, %d ranks, batch %lld, %d epochs (shuffled)\n",
           argv[1], (long long)m->count, m->nshards, size, (long long)batch, epochs);
    printf("  loader (prefetch thread): %9.0f examples/s per rank (slowest), %9.0f aggregate\n", lo[0], total[0]);
    printf("  ds_read_images (direct):  %9.0f examples/s per rank (slowest), %9.0f aggregate\n", lo[1], total[1]);
    printf("  checksum %llu\n", (unsigned long long)sum);
  }
  ds_sampler_free(&s);
  ds_close(r);
  MPI_Finalize();
  return 0;
}
