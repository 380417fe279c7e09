/* sweep: a grid of configurations trained side by side on one MPI job.
 *   mpirun -np 8 attn_train sweep --grid lr=1e-4,3e-4,1e-3 dropout=0,0.1 --ranks-per-run 2 [train flags]
 * MPI_COMM_WORLD is split into groups of --ranks-per-run ranks; group g trains configurations
 * g, g+G, ... data-parallel, each into <log-dir>/<run name>/; world rank 0 writes
 * <log-dir>/results.csv, results.md (best validation metric per run) and sweep.png. */
#ifndef SWEEP_H
#define SWEEP_H
#include "comm.h"
#include "nn_status.h"

/* The `attn_train sweep` subcommand over argv[first..argc); *exit_code gets the process status. */
nn_status sweep_main(struct comm *world, int argc, char **argv, int first, int *exit_code);

#endif
