/* generate: `attn_train generate` — sample text from a checkpoint of a language model. */
#ifndef GENERATE_H
#define GENERATE_H
#include "comm.h"
#include "cfg.h"
#include "ckpt.h"
#include "ds.h"
#include "nn_params.h"

/* What a model needs besides its weights: configuration, decoding metadata, the parameters.
 * src is a checkpoint (directory) or an export (.h5 file). */
struct source {
  char path[1024];
  int is_export;
  struct ckpt_state s;
  struct ds_meta meta;
  int have_meta;
};

/* Open a checkpoint (directory) or an export (.h5 file): its state, configuration into cfg and the
 * decoding metadata (have_meta when present). Shared with translate. */
nn_status gen_open_source(struct source *src, const char *ckpt, struct comm *c, struct cfg *cfg);
/* The parameters of src into the allocated P (names and shapes must all match). */
nn_status gen_load_params(struct source *src, struct nn_params *P, struct comm *c, const char *model);

/* Run the generate subcommand with argv[first..argc); prints the text to stdout as it is sampled. */
nn_status generate_main(struct comm *c, int argc, char **argv, int first);

#endif
