/* model: the interface every model family implements, and the registry of models. */
#ifndef MODEL_H
#define MODEL_H
#include <stdio.h>
#include "cfg.h"
#include "ds.h"
#include "nn.h"
#include "task.h"

/* What one forward pass gives the trainer. */
struct model_out {
  struct nn_tensor *loss;   /* scalar mean loss over the counted items of this rank's batch */
  struct nn_tensor *logits; /* (N, classes) for classifiers (accuracy), (B,T,V) for lstm-attn (tests), or NULL */
  int64_t count;            /* items the loss averages over (examples, or tokens) */
};

struct model_def {
  const char *name;
  const char *summary;
  const struct task *task; /* what it learns: task_classification, task_lm, task_seq2seq (src/task.h) */
  const struct cfg_keyset *keys; /* the family's hyperparameter keys (cfg_int(c, "n_embd"), ...), or NULL */
  /* fill the keys of c the user did not give with the model's seed hyperparameters */
  void (*preset)(struct cfg *c);
  /* check c against the data, declare the parameters in P; *self gets the model */
  nn_status (*build)(void **self, const struct cfg *c, const struct ds_meta *meta, struct nn_params *P);
  /* forward pass of batch b (host memory) on graph g */
  nn_status (*forward)(void *self, struct nn_graph *g, struct nn_params *P, const struct ds_batch *b,
                       struct model_out *out);
  /* Decoding (generation, translation; NULL for models that do not decode). The state is opaque:
   * a language model's key/value caches, a recurrent model's hidden state, a translator's encoder
   * states. dec_open creates it, conditioned on cond[0..ncond) (a translator's source sentence;
   * NULL/0 for language models), on graph g (reset by the caller before each call). */
  nn_status (*dec_open)(void *self, struct nn_graph *g, struct nn_params *P, const int32_t *cond, int64_t ncond,
                        void **state);
  /* logits(1,n,V) of the new tokens ids[0..n) (on g, valid until g is reset), advancing the state
   * by n positions; at most dec_context() - positions held (when that is > 0) */
  nn_status (*dec_step)(void *self, void *state, struct nn_graph *g, struct nn_params *P, const int32_t *ids, int64_t n,
                        struct nn_tensor **logits);
  /* forget the decoded positions (keep the conditioning) */
  void (*dec_reset)(void *self, void *state);
  void (*dec_free)(void *self, void *state);
  /* positions a state can hold (0 = unbounded, e.g. recurrent) and the output vocabulary */
  void (*dec_info)(void *self, int64_t *context, int64_t *vocab);
  /* After every epoch (and at the end of training), on every rank, outside any collective: e.g. a
   * sample printed on rank 0. m->g may be reset and used; NULL: nothing. */
  nn_status (*epoch_end)(const struct task_model *m, const struct cfg *c, int64_t epoch, int rank);
  void (*destroy)(void *self);
  /* optional (attn_train features): forward only up to the layer called `layer` and out(N, F) = its
   * activation, flattened per example; an unknown layer is an NN_ERR_ARG naming the layers there are */
  nn_status (*features)(void *self, struct nn_graph *g, struct nn_params *P, const struct ds_batch *b, const char *layer,
                        struct nn_tensor **out);
};

/* The model called name, or NULL. */
const struct model_def *model_find(const char *name);
/* Print the registered models, one per line. */
void model_list(FILE *out);

/* images(N,C,H,W) float = (pixels/255 - mean) / std, from a batch of uint8 images. */
struct nn_tensor *model_images(struct nn_graph *g, const struct ds_batch *b, const struct ds_meta *m,
                               float mean, float std);
/* images(N,C,H,W) float = (pixels/255 - mean[c]) / std[c] with the dataset's per-channel statistics
 * (m->has_norm, written by attn_data convert), else with mean 0.5, std 0.5 (pixels in [-1, 1]). */
struct nn_tensor *model_images_norm(struct nn_graph *g, const struct ds_batch *b, const struct ds_meta *m);
/* A device index tensor (NN_I32) of shape dims holding host values v. */
struct nn_tensor *model_index(struct nn_graph *g, const int32_t *v, int ndim, const int64_t *shape);

#endif
