/* features_cmd: `attn_train features` (src/features.c; not features.h, which would shadow glibc's <features.h>) —
 * a backbone's activations at one layer, computed once, data-parallel, written as a sharded `features` dataset (datasets/FORMAT.md) for training a head (--model linear). */
#ifndef FEATURES_CMD_H
#define FEATURES_CMD_H
#include "comm.h"

/* Run the features subcommand with argv[first..argc); returns the process exit status (0 done, 2 a
 * usage or set-up error every rank saw, 1 a failure on some rank). Collective. */
int features_main(struct comm *c, int argc, char **argv, int first);

#endif
