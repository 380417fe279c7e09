/* attn_train: data-parallel training of self-attention models.
 *   mpirun -np N attn_train --model NAME --data DIR [--key value ...]
 * Exit status: 0 success, 2 bad usage (every rank agrees), 1 any other error (the failing rank
 * prints its message and the whole job is aborted). */
#include <stdio.h>
#include <string.h>
#include "cfg.h"
#include "comm.h"
#include "model.h"
#include "train.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: mpirun -np N attn_train --model NAME --data DIR [options]\n"
          "       attn_train --model NAME --data DIR [options]     (single-process debug run)\n\n"
          "models:\n");
  model_list(out);
  fprintf(out, "\noptions (also accepted as 'key = value' lines in --config FILE; flags override the file):\n");
  cfg_print_help(out);
}

int main(int argc, char **argv) {
  struct comm comm;
  if (comm_init(&comm, &argc, &argv) != NN_OK) {
    fprintf(stderr, "attn_train: %s\n", nn_errmsg());
    return 1;
  }
  /* configuration: defaults < config file < flags (the model preset fills what is left) */
  struct cfg c, flags;
  int help = 0;
  cfg_defaults(&c);
  cfg_defaults(&flags);
  nn_status st = cfg_parse_args(&flags, argc, argv, 1, &help);
  if (st == NN_OK && flags.config[0]) st = cfg_load_file(&c, flags.config);
  if (st == NN_OK) st = cfg_parse_args(&c, argc, argv, 1, &help);
  if (help) {
    if (comm.rank == 0) usage(stdout);
    comm_finalize(&comm);
    return 0;
  }
  if (st != NN_OK) { /* same on every rank: one message, no abort needed */
    if (comm.rank == 0) fprintf(stderr, "attn_train: %s\n", nn_errmsg());
    comm_finalize(&comm);
    return 2;
  }
  int agreed = 0;
  st = train_run(&c, &comm, &agreed);
  if (st != NN_OK && agreed) {
    comm_finalize(&comm);
    return 2;
  }
  if (st != NN_OK) {
    fprintf(stderr, "attn_train: rank %d: %s\n", comm.rank, nn_errmsg());
    fflush(stderr);
    if (comm.size > 1) comm_abort(&comm, 1);
    comm_finalize(&comm);
    return 1;
  }
  comm_finalize(&comm);
  return 0;
}
