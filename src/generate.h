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
 * decoding metadata (have_meta when present). Used by gen_model_open. */
nn_status gen_open_source(struct source *src, const char *ckpt, struct comm *c, struct cfg *cfg);
/* The parameters of src into the allocated P (names and shapes must all match). */
nn_status gen_load_params(struct source *src, struct nn_params *P, struct comm *c, const char *model);

/* Run the generate subcommand with argv[first..argc); prints the text to stdout as it is sampled. */
nn_status generate_main(struct comm *c, int argc, char **argv, int first);

/* A model loaded for inference from a checkpoint (directory) or an export (.h5 file), with the data
 * description it was trained on (vocabulary, image size): attn_train attention's loader. */
struct model_def;
struct gen_model {
  struct cfg cfg;
  const struct model_def *def;
  void *model;
  struct nn_params P;
  struct nn_backend *be;
  const struct ds_meta *meta;  /* the checkpoint's own, or the dataset's (--data, older checkpoints) */
  struct ds_reader *reader;    /* the training split when the metadata came from it, else NULL */
  struct source *src;
};
/* Build the model of ckpt on a backend (device, threads) and load its parameters; data (or NULL)
 * overrides where the data description comes from. Call gen_model_close even on failure. */
nn_status gen_model_open(struct gen_model *M, struct comm *c, const char *ckpt, const char *data, const char *device,
                         int threads);
/* The same for a tool that needs a decoding model of one task (generate: task_lm, translate:
 * task_seq2seq): any other model is refused before it is built, with "<ckpt> holds model '<name>',
 * which <refusal>" (NN_ERR_ARG). Call gen_model_close even on failure. */
struct task;
nn_status gen_model_open_task(struct gen_model *M, struct comm *c, const char *ckpt, const char *data, const char *device,
                              int threads, const struct task *task, const char *refusal);
void gen_model_close(struct gen_model *M);
/* ids[0..*n) = the UTF-8 text in m's vocabulary (longest match); an error names flag, the first unknown
 * character and `data` (where the vocabulary is from). ids needs strlen(text) entries. */
nn_status gen_encode(const struct ds_meta *m, const char *text, int32_t *ids, int64_t *n, const char *data, const char *flag);

#endif
