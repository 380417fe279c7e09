/* The registry of model families, and input helpers they share. */
#include <string.h>
#include "model.h"

extern const struct model_def model_cnn, model_gpt, model_gpt_small, model_transformer, model_transformer_small,
    model_lstm_attn, model_seq2seq;
extern const struct model_def model_resnet18, model_resnet34, model_resnet50, model_linear;

static const struct model_def *const models[] = {&model_cnn,          &model_gpt,      &model_gpt_small,
                                                 &model_transformer,  &model_transformer_small,
                                                 &model_resnet18,     &model_resnet34, &model_resnet50,
                                                 &model_lstm_attn,    &model_seq2seq,  &model_linear};
#define NMODELS (sizeof models / sizeof models[0])

/* The distinct key sets of the models, in registry order (cfg.c lists and parses them). */
const struct cfg_keyset *cfg_model_keyset(int i) {
  for (size_t m = 0; m < NMODELS; m++) {
    int seen = !models[m]->keys;
    for (size_t e = 0; e < m && !seen; e++) seen = models[e]->keys == models[m]->keys;
    if (!seen && i-- == 0) return models[m]->keys;
  }
  return NULL;
}

const struct model_def *model_find(const char *name) {
  for (size_t i = 0; i < NMODELS; i++)
    if (strcmp(models[i]->name, name) == 0) return models[i];
  return NULL;
}

void model_list(FILE *out) {
  for (size_t i = 0; i < NMODELS; i++) fprintf(out, "  %-12s %s\n", models[i]->name, models[i]->summary);
}

struct nn_tensor *model_images(struct nn_graph *g, const struct ds_batch *b, const struct ds_meta *m,
                               float mean, float std) {
  struct nn_tensor *x = nn_new(g, NN_F32, 4, NN_SHAPE(b->n, m->c, m->h, m->w));
  float *host = nn_arena_alloc(&g->meta, sizeof(float) * (size_t)(x ? x->numel : 1));
  if (!x || !host) return NULL;
  const float a = 1.0f / (255.0f * std), c = -mean / std;
  for (int64_t i = 0; i < x->numel; i++) host[i] = (float)b->pixels[i] * a + c;
  nn_be_to_device(g->be, x->data, host, sizeof(float) * (size_t)x->numel);
  return x;
}

struct nn_tensor *model_images_norm(struct nn_graph *g, const struct ds_batch *b, const struct ds_meta *m) {
  if (!m->has_norm) return model_images(g, b, m, 0.5f, 0.5f);
  struct nn_tensor *x = nn_new(g, NN_F32, 4, NN_SHAPE(b->n, m->c, m->h, m->w));
  float *host = nn_arena_alloc(&g->meta, sizeof(float) * (size_t)(x ? x->numel : 1));
  if (!x || !host) return NULL;
  int64_t hw = m->h * m->w;
  for (int64_t i = 0; i < b->n; i++)
    for (int64_t c = 0; c < m->c; c++) {
      const float a = (float)(1.0 / (255.0 * m->std[c])), k = (float)(-m->mean[c] / m->std[c]);
      const uint8_t *p = b->pixels + (i * m->c + c) * hw;
      float *q = host + (i * m->c + c) * hw;
      for (int64_t j = 0; j < hw; j++) q[j] = (float)p[j] * a + k;
    }
  nn_be_to_device(g->be, x->data, host, sizeof(float) * (size_t)x->numel);
  return x;
}

struct nn_tensor *model_index(struct nn_graph *g, const int32_t *v, int ndim, const int64_t *shape) {
  struct nn_tensor *t = nn_new(g, NN_I32, ndim, shape);
  if (t) nn_be_to_device(g->be, t->i32, v, sizeof(int32_t) * (size_t)t->numel);
  return t;
}
