/* allreduce_time: median time of MPI_Allreduce (float sum) per size, every rank starting together.
 *   mpicc -O2 -o allreduce_time tests/slurm/allreduce_time.c; mpirun -np N allreduce_time REPS BYTES...
 * Used by tests/slurm/scaling_check.sh to check docs/SCALING.md's ring model (not part of the build). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size, reps = argc > 1 ? atoi(argv[1]) : 5;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  double *t = malloc(sizeof(double) * (size_t)reps);
  for (int a = 2; a < argc; a++) {
    long n = atol(argv[a]) / 4;
    float *buf = calloc((size_t)n, sizeof(float));
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); /* connections up */
    for (int r = 0; r < reps; r++) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      t[r] = MPI_Wtime() - t0;
      MPI_Allreduce(MPI_IN_PLACE, &t[r], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    if (rank == 0) printf("np %d bytes %ld median_ms %.2f min_ms %.2f\n", size, 4 * n, 1e3 * t[reps / 2], 1e3 * t[0]);
    free(buf);
  }
  free(t);
  MPI_Finalize();
  return 0;
}
