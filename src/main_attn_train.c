/* attn_train: data-parallel training of self-attention models.
 *   mpirun -np N attn_train --model NAME --data DIR [--key value ...]
 * Exit status: 0 success, 2 bad usage (every rank agrees), 1 any other error (the failing rank
 * prints its message and the whole job is aborted), 3 stopped by SIGTERM/SIGUSR1 after writing a
 * checkpoint, or before the first step with nothing new to save (TRAIN_EXIT_PREEMPTED). */
#include <stdio.h>
#include <string.h>
#include "cfg.h"
#include "attnmap.h"
#include "comm.h"
#include "model.h"
#include "ckpt.h"
#include "features_cmd.h"
#include "generate.h"
#include "plot.h"
#include "sweep.h"
#include "train.h"
#include "translate.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: mpirun -np N attn_train --model NAME --data DIR [options]\n"
          "       attn_train --model NAME --data DIR [options]     (single-process debug run)\n"
          "       attn_train generate --ckpt DIR|OUT.h5 [--prompt TEXT ...] (sample text; generate --help)\n"
          "       attn_train translate --ckpt DIR|OUT.h5 --text S [--beam K] (seq2seq; translate --help)\n"
          "       attn_train export CKPT OUT.h5                      (one plain HDF5 file: a dataset per parameter,\n"
          "                                                            the configuration and the vocabulary)\n"
          "       attn_train plot LOGDIR... --out FILE.png|.svg      (training curves; plot --help)\n"
          "       mpirun -np N attn_train sweep --grid lr=1e-4,3e-4 ... [--ranks-per-run R] [options] (sweep --help)\n"
          "       attn_train ckpt list DIR                           (every checkpoint: step, time, ranks, model, complete or why not)\n"
          "       attn_train ckpt verify DIR [--data D]               (every shard and checksum, the parameter table against the model)\n"
          "       attn_train ckpt raw CKPT OUT                       (the flat buffers as raw float32, for cmp)\n"
          "       attn_train features --layer NAME --data D --out F  (a layer's activations as a dataset; features --help)\n"
          "       attn_train attention --ckpt D --input X --out F.png (attention maps as pictures; attention --help)\n\n"
          "models:\n");
  model_list(out);
  fprintf(out, "\noptions (also accepted as 'key = value' lines in --config FILE; flags override the file):\n");
  cfg_print_help(out);
}

/* attn_train ckpt list DIR | verify DIR [--data D] | raw CKPT OUT: 0 fine, 1 a checkpoint failed
 * verification, 2 bad usage. */
static int ckpt_main(int argc, char **argv) {
  const char *sub = argc > 2 ? argv[2] : "";
  nn_status st;
  int bad = 0;
  if (strcmp(sub, "list") == 0 && argc == 4) {
    st = ckpt_list(argv[3], stdout);
  } else if (strcmp(sub, "verify") == 0 && (argc == 4 || (argc == 6 && strcmp(argv[4], "--data") == 0))) {
    st = ckpt_verify(argv[3], argc == 6 ? argv[5] : NULL, stdout, &bad);
  } else if (strcmp(sub, "raw") == 0 && argc == 5) {
    st = ckpt_dump_raw(argv[3], argv[4]);
  } else {
    fprintf(stderr, "usage: attn_train ckpt list DIR | ckpt verify DIR [--data D] | ckpt raw CKPT OUT\n");
    return 2;
  }
  if (st != NN_OK) {
    fprintf(stderr, "attn_train ckpt %s: %s\n", sub, nn_errmsg());
    return 2;
  }
  return bad ? 1 : 0;
}

int main(int argc, char **argv) {
  train_install_signals(); /* before MPI set-up: a stop during start-up must not kill the job */
  struct comm comm;
  if (comm_init(&comm, &argc, &argv) != NN_OK) {
    fprintf(stderr, "attn_train: %s\n", nn_errmsg());
    return 1;
  }
  /* subcommands */
  if (argc > 1 && strcmp(argv[1], "features") == 0) {
    int rc = features_main(&comm, argc, argv, 2);
    comm_finalize(&comm);
    return rc;
  }
  if (argc > 1 && strcmp(argv[1], "ckpt") == 0) {
    int rc = ckpt_main(argc, argv);
    comm_finalize(&comm);
    return rc;
  }
  if (argc > 1 && (strcmp(argv[1], "generate") == 0 || strcmp(argv[1], "export") == 0 || strcmp(argv[1], "plot") == 0 ||
                   strcmp(argv[1], "translate") == 0)) {
    nn_status st;
    if (strcmp(argv[1], "generate") == 0) st = generate_main(&comm, argc, argv, 2);
    else if (strcmp(argv[1], "translate") == 0) st = translate_main(&comm, argc, argv, 2);
    else if (strcmp(argv[1], "plot") == 0) st = comm.rank == 0 ? plot_main(argc, argv, 2) : NN_OK;
    else if (argc != 4) st = nn_fail(NN_ERR_ARG, "usage: attn_train export CKPT OUT.h5");
    else st = ckpt_export(argv[2], argv[3]);
    if (st == NN_OK && strcmp(argv[1], "export") == 0 && comm.rank == 0) printf("exported %s to %s\n", argv[2], argv[3]);
    if (st != NN_OK) fprintf(stderr, "attn_train %s: %s\n", argv[1], nn_errmsg());
    comm_finalize(&comm);
    return st == NN_OK ? 0 : 2;
  }
  if (argc > 1 && strcmp(argv[1], "attention") == 0) { /* attention maps: one process */
    nn_status st = attn_main(&comm, argc, argv, 2);
    if (st != NN_OK) fprintf(stderr, "attn_train attention: %s\n", nn_errmsg());
    comm_finalize(&comm);
    return st == NN_OK ? 0 : 2;
  }
  if (argc > 1 && strcmp(argv[1], "sweep") == 0) { /* a grid of runs over groups of ranks */
    int code = 2;
    nn_status st = sweep_main(&comm, argc, argv, 2, &code);
    if (st != NN_OK && code == 2 && comm.rank == 0) fprintf(stderr, "attn_train sweep: %s\n", nn_errmsg());
    if (st != NN_OK && code == 1) {
      fprintf(stderr, "attn_train sweep: rank %d: %s\n", comm.rank, nn_errmsg());
      if (comm.size > 1) comm_abort(&comm, 1);
    }
    comm_finalize(&comm);
    return code;
  }
  /* configuration: defaults < config file < flags (the model preset fills what is left) */
  struct cfg c;
  int help = 0;
  nn_status st = cfg_from_args(&c, argc, argv, 1, &help);
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
  int agreed = 0, preempted = 0;
  st = train_run(&c, &comm, &agreed, &preempted);
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
  return preempted ? TRAIN_EXIT_PREEMPTED : 0;
}
