/* model: the interface every model family implements, and the registry of models. */
#ifndef MODEL_H
#define MODEL_H
#include <stdio.h>
#include "cfg.h"
#include "ds.h"
#include "nn.h"

/* What one forward pass gives the trainer. */
struct model_out {
  struct nn_tensor *loss;   /* scalar mean loss over the counted items of this rank's batch */
  struct nn_tensor *logits; /* (N, classes) for classifiers (accuracy), or NULL */
  int64_t count;            /* items the loss averages over (examples, or tokens) */
};

struct model_def {
  const char *name;
  const char *summary;
  enum ds_kind data_kind;
  /* fill the keys of c the user did not give with the model's seed hyperparameters */
  void (*preset)(struct cfg *c);
  /* check c against the data, declare the parameters in P; *self gets the model */
  nn_status (*build)(void **self, const struct cfg *c, const struct ds_meta *meta, struct nn_params *P);
  /* forward pass of batch b (host memory) on graph g */
  nn_status (*forward)(void *self, struct nn_graph *g, struct nn_params *P, const struct ds_batch *b,
                       struct model_out *out);
  void (*destroy)(void *self);
};

/* The model called name, or NULL. */
const struct model_def *model_find(const char *name);
/* Print the registered models, one per line. */
void model_list(FILE *out);

/* images(N,C,H,W) float = (pixels/255 - mean) / std, from a batch of uint8 images. */
struct nn_tensor *model_images(struct nn_graph *g, const struct ds_batch *b, const struct ds_meta *m,
                               float mean, float std);
/* A device index tensor (NN_I32) of shape dims holding host values v. */
struct nn_tensor *model_index(struct nn_graph *g, const int32_t *v, int ndim, const int64_t *shape);

#endif
