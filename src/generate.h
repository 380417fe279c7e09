/* generate: `attn_train generate` — sample text from a checkpoint of a language model. */
#ifndef GENERATE_H
#define GENERATE_H
#include "comm.h"

/* Run the generate subcommand with argv[first..argc); prints the text to stdout as it is sampled. */
nn_status generate_main(struct comm *c, int argc, char **argv, int first);

#endif
