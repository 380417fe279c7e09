/* translate: `attn_train translate` — translate sentences with a seq2seq checkpoint or export
 * (greedy or beam search through the model's decoding state). */
#ifndef TRANSLATE_H
#define TRANSLATE_H
#include "comm.h"

/* Run the translate subcommand with argv[first..argc); translations on stdout, one per line. */
nn_status translate_main(struct comm *c, int argc, char **argv, int first);

#endif
