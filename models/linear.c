/* linear: a linear classification head on a features dataset (attn_train features): the new head of the
 * transfer-learning recipe (§9.5), trained with SGD on activations computed once.
 *   logits = fc(x), x(N, F) the stored features; parameters fc.weight (classes, F), fc.bias (classes),
 *   torch.nn.Linear's names, shapes and default initialisation. */
#include <stdlib.h>
#include <string.h>
#include "blocks.h"
#include "model.h"

struct linear {
  struct nn_linear fc;
  int64_t in, classes;
};

static void linear_preset(struct cfg *c) {
  if (!cfg_given(c, "batch")) c->batch = 128;
  if (!cfg_given(c, "lr")) c->lr = 0.01;
  if (!cfg_given(c, "optimizer")) strcpy(c->optimizer, "sgd");
  if (!cfg_given(c, "momentum")) c->momentum = 0.9;
  if (!cfg_given(c, "epochs") && !cfg_given(c, "steps")) c->epochs = 10;
  if (!cfg_given(c, "dropout")) c->dropout = 0;
  if (!cfg_given(c, "weight_decay")) c->weight_decay = 0;
  if (!cfg_given(c, "clip")) c->clip = 0;
  if (!cfg_given(c, "schedule")) strcpy(c->schedule, "const");
}

static nn_status linear_build(void **self, const struct cfg *c, const struct ds_meta *m, struct nn_params *P) {
  if (m->kind != DS_FEATURES)
    return nn_fail(NN_ERR_ARG, "model linear trains on a features dataset (attn_train features ... --out DIR), got kind '%s'",
                   m->kind == DS_IMAGE ? "image" : m->kind == DS_TEXT ? "text" : "pairs");
  struct linear *n = calloc(1, sizeof *n);
  if (!n) return nn_fail(NN_ERR_OOM, "out of memory");
  n->in = m->feature_dim;
  n->classes = m->nclasses;
  n->fc = nn_linear_decl(nn_scope_root(P), "fc", n->in, n->classes, NN_BIAS);
  *self = n;
  return NN_OK;
}

static nn_status linear_forward(void *self, struct nn_graph *g, struct nn_params *P, const struct ds_batch *b,
                                struct model_out *out) {
  struct linear *n = self;
  struct nn_tensor *x = nn_new(g, NN_F32, 2, NN_SHAPE(b->n, n->in));
  if (!x) return g->status;
  nn_be_to_device(g->be, x->data, b->features, sizeof(float) * (size_t)x->numel);
  struct nn_tensor *logits = nn_linear_fwd(g, P, &n->fc, x);
  out->logits = logits;
  out->loss = nn_cross_entropy(g, logits, model_index(g, b->labels, 1, NN_SHAPE(b->n)), -100);
  out->count = b->n;
  return g->status;
}

static void linear_destroy(void *self) { free(self); }

const struct model_def model_linear = {
    .name = "linear",
    .summary = "a linear head fc (torch nn.Linear names) on a features dataset (attn_train features); SGD lr 0.01, momentum 0.9",
    .task = &task_feature_classification,
    .preset = linear_preset,
    .build = linear_build,
    .forward = linear_forward,
    .destroy = linear_destroy,
};
