/* cnn: the chapter's MNIST-style CNN (§9.1) with an optional self-attention layer.
 *   conv 1->32 5x5, max-pool 2, conv 32->64 5x5, [spatial attention], max-pool 2,
 *   flatten 1024, linear 1024->1024, ReLU, dropout 0.5, [seed attention], linear 1024->10.
 * --attn none     no attention
 * --attn seed     the chapter's layer: self-attention over a sequence of length 1 (the softmax
 *                 of one score is 1, so it reduces to out(value(x)); kept for fidelity)
 * --attn spatial  multi-head self-attention over the 8x8 positions of the conv2 feature map,
 *                 64 channels per position, with a residual connection (default) */
#include <stdlib.h>
#include <string.h>
#include "blocks.h"
#include "model.h"

enum cnn_attn { CNN_ATTN_NONE, CNN_ATTN_SEED, CNN_ATTN_SPATIAL };

struct cnn {
  enum cnn_attn attn;
  struct nn_conv2d conv1, conv2;
  struct nn_linear fc1, fc2;
  struct blk_mha mha;
  float dropout;
  int64_t c, h, w, classes, flat;
  const struct ds_meta *meta;
};

/* the family's hyperparameter keys (flags, config files, --help, checkpoints; src/cfg.h) */
static const struct cfg_model_key cnn_key_table[] = {
    {"attn", CFG_T_STR, 0, 0, "none|seed|spatial", "spatial", "cnn attention: none | seed (the chapter's length-1 attention) | spatial"},
    {"heads", CFG_T_INT, 1, 1024, NULL, "4", "attention heads of the cnn spatial attention"},
};
static const struct cfg_keyset cnn_keys = {"cnn", cnn_key_table, (int)(sizeof cnn_key_table / sizeof cnn_key_table[0])};

static void cnn_preset(struct cfg *c) {
  if (!cfg_given(c, "batch")) c->batch = 256;
  if (!cfg_given(c, "lr")) c->lr = 1e-4;
  if (!cfg_given(c, "optimizer")) strcpy(c->optimizer, "adam");
  if (!cfg_given(c, "epochs") && !cfg_given(c, "steps")) c->epochs = 10;
  if (!cfg_given(c, "dropout")) c->dropout = 0.5;
  if (!cfg_given(c, "weight_decay")) c->weight_decay = 0;
  if (!cfg_given(c, "clip")) c->clip = 0;
  if (!cfg_given(c, "schedule")) strcpy(c->schedule, "const");
}

static nn_status cnn_build(void **self, const struct cfg *c, const struct ds_meta *m, struct nn_params *P) {
  if (m->kind != DS_IMAGE) return nn_fail(NN_ERR_ARG, "model cnn needs an image dataset, got another kind");
  if (m->h != 28 || m->w != 28)
    return nn_fail(NN_ERR_ARG, "model cnn expects 28x28 images (MNIST / Fashion-MNIST), the dataset has %lldx%lld",
                   (long long)m->h, (long long)m->w);
  struct cnn *n = calloc(1, sizeof *n);
  if (!n) return nn_fail(NN_ERR_OOM, "out of memory");
  const char *attn = cfg_str(c, "attn");
  n->attn = strcmp(attn, "none") == 0 ? CNN_ATTN_NONE : strcmp(attn, "seed") == 0 ? CNN_ATTN_SEED : CNN_ATTN_SPATIAL;
  n->dropout = (float)c->dropout;
  n->meta = m;
  n->c = m->c;
  n->classes = m->nclasses;
  n->flat = 64 * 4 * 4;
  if (n->attn == CNN_ATTN_SPATIAL && 64 % cfg_int(c, "heads") != 0) {
    free(n);
    return nn_fail(NN_ERR_ARG, "option --heads: 64 channels are not divisible by %lld heads", (long long)cfg_int(c, "heads"));
  }
  struct nn_scope root = nn_scope_root(P);
  n->conv1 = nn_conv2d_decl(root, "conv1", m->c, 32, 5, 1, 0, NN_BIAS);
  n->conv2 = nn_conv2d_decl(root, "conv2", 32, 64, 5, 1, 0, NN_BIAS);
  if (n->attn == CNN_ATTN_SPATIAL) n->mha = blk_mha_decl(root, "attn", 64, (int)cfg_int(c, "heads"), NN_BIAS);
  n->fc1 = nn_linear_decl(root, "fc1", n->flat, 1024, NN_BIAS);
  if (n->attn == CNN_ATTN_SEED) n->mha = blk_mha_decl(root, "attn", 1024, 1, NN_BIAS);
  n->fc2 = nn_linear_decl(root, "fc2", 1024, n->classes, NN_BIAS);
  *self = n;
  return NN_OK;
}

/* x(B,64,8,8) + attention over the 64 positions, back in (B,64,8,8) */
static struct nn_tensor *spatial_attention(struct cnn *n, struct nn_graph *g, struct nn_params *P, struct nn_tensor *x) {
  int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
  struct nn_tensor *t = nn_reshape(g, nn_permute(g, x, (const int[]){0, 2, 3, 1}), 3, NN_SHAPE(B, H * W, C));
  t = nn_add(g, t, blk_mha_fwd(g, P, &n->mha, t, 0, 0.0f, NULL));
  return nn_permute(g, nn_reshape(g, t, 4, NN_SHAPE(B, H, W, C)), (const int[]){0, 3, 1, 2});
}

static nn_status cnn_forward(void *self, struct nn_graph *g, struct nn_params *P, const struct ds_batch *b,
                             struct model_out *out) {
  struct cnn *n = self;
  int64_t B = b->n;
  struct nn_tensor *x = model_images(g, b, n->meta, 0.5f, 0.5f);
  x = nn_conv2d_fwd(g, P, &n->conv1, x);
  x = nn_maxpool2d(g, x, 2, 2, 0);
  x = nn_conv2d_fwd(g, P, &n->conv2, x);
  if (n->attn == CNN_ATTN_SPATIAL) x = spatial_attention(n, g, P, x);
  x = nn_maxpool2d(g, x, 2, 2, 0);
  x = nn_reshape(g, x, 2, NN_SHAPE(B, n->flat));
  x = nn_dropout(g, nn_relu(g, nn_linear_fwd(g, P, &n->fc1, x)), n->dropout);
  if (n->attn == CNN_ATTN_SEED) {
    x = blk_mha_fwd(g, P, &n->mha, nn_reshape(g, x, 3, NN_SHAPE(B, 1, 1024)), 0, 0.0f, NULL);
    x = nn_reshape(g, x, 2, NN_SHAPE(B, 1024));
  }
  struct nn_tensor *logits = nn_linear_fwd(g, P, &n->fc2, x);
  struct nn_tensor *labels = model_index(g, b->labels, 1, NN_SHAPE(B));
  out->logits = logits;
  out->loss = nn_cross_entropy(g, logits, labels, -100);
  out->count = B;
  return g->status;
}

static void cnn_destroy(void *self) { free(self); }

const struct model_def model_cnn = {
    .name = "cnn",
    .summary = "the chapter's CNN (conv 32, conv 64, fc 1024) with --attn none|seed|spatial (Fashion-MNIST/MNIST)",
    .task = &task_classification,
    .keys = &cnn_keys,
    .preset = cnn_preset,
    .build = cnn_build,
    .forward = cnn_forward,
    .destroy = cnn_destroy,
};
