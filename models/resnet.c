/* resnet: torchvision's ResNet-18/34/50 (chapter §9.2) with optional self-attention in residual blocks.
 *   stem: --stem cifar     conv1 3x3/1 (pad 1), bn1, ReLU, no max-pool (default for inputs <= 64 px)
 *         --stem imagenet  conv1 7x7/2 (pad 3), bn1, ReLU, max-pool 3x3/2 (the chapter's)
 *   layer1..layer4: basic blocks (18: 2,2,2,2; 34: 3,4,6,3) or bottlenecks (50: 3,4,6,3) of
 *   64/128/256/512 planes, stride 2 from layer2 on (torchvision v1.5: in the 3x3 conv), a
 *   downsample (1x1 conv + BN) when the shape changes; global average pool; fc.
 * Parameter names are torchvision's (conv1.weight, bn1.running_mean, layer1.0.conv1.weight,
 * layer2.0.downsample.0.weight, layer2.0.downsample.1.bias, fc.weight, ...), so a state_dict
 * converted by tools/torchvision_to_h5.py loads with --init-from.
 * Attention (--attn, in the last block of each stage of --attn-stages, after the block's ReLU):
 *   spatial  x += gate * MHA(x) over the H*W positions of the block's output, C channels per
 *            position (1x1 = per-position linear projections query/key/value/proj, --heads heads),
 *            gate a learned scalar initialised to 0 (the pretrained path is unchanged at start)
 *   seed     the chapter's layer: Linear(C) query/key/value/output applied to the last axis (W) of
 *            the (N,C,H,W) map, softmax(q k^T / sqrt(W)) v over the H axis of each (n, c) plane;
 *            it replaces the block's output and only runs where W == C (checked at build)
 *   none     plain ResNet */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "blocks.h"
#include "model.h"

#define RN_BN_MOMENTUM 0.1f
#define RN_BN_EPS 1e-5f

enum rn_attn { RN_ATTN_NONE, RN_ATTN_SEED, RN_ATTN_SPATIAL };

/* A conv (no bias) followed by a BN. */
struct rn_convbn {
  struct nn_conv2d conv;
  struct nn_batchnorm2d bn;
};

struct rn_block {
  struct rn_convbn c[3], down; /* c[2] only in bottlenecks; has_down 0: identity shortcut */
  int has_down;
  int attn;                    /* enum rn_attn of this block */
  struct blk_mha mha;
  int gate;                    /* spatial: index of the scalar gate */
};

struct resnet {
  int bottleneck, imagenet_stem, nblocks;
  struct rn_convbn stem;
  struct rn_block *blocks;
  struct nn_linear fc;
  int64_t feat;
  const struct ds_meta *meta;
};

/* the family's hyperparameter keys (attn and heads are shared with cnn: same names and types) */
static const struct cfg_model_key resnet_key_table[] = {
    {"attn", CFG_T_STR, 0, 0, "none|seed|spatial", "spatial", "cnn/resnet attention: none | seed (the chapter's layer) | spatial (resnet preset: none)"},
    {"heads", CFG_T_INT, 1, 1024, NULL, "4", "attention heads of the spatial attention"},
    {"stem", CFG_T_STR, 0, 0, "auto|cifar|imagenet", "auto", "resnet stem: cifar (3x3/1, no max-pool) | imagenet (7x7/2 + max-pool) | auto (cifar up to 64 px)"},
    {"attn_stages", CFG_T_STR, 0, 0, NULL, "3,4", "resnet stages (1..4) whose last block gets the attention layer"},
};
static const struct cfg_keyset resnet_keys = {"resnet18, resnet34, resnet50", resnet_key_table,
                                              (int)(sizeof resnet_key_table / sizeof resnet_key_table[0])};

static void resnet_preset(struct cfg *c) {
  if (!cfg_given(c, "batch")) c->batch = 128;
  if (!cfg_given(c, "lr")) c->lr = 0.01;
  if (!cfg_given(c, "optimizer")) strcpy(c->optimizer, "sgd");
  if (!cfg_given(c, "momentum")) c->momentum = 0.9;
  if (!cfg_given(c, "weight_decay")) c->weight_decay = 5e-4;
  if (!cfg_given(c, "epochs") && !cfg_given(c, "steps")) c->epochs = 30;
  if (!cfg_given(c, "schedule")) strcpy(c->schedule, "cosine");
  if (!cfg_given(c, "warmup")) c->warmup = 0;
  if (!cfg_given(c, "clip")) c->clip = 0;
  if (!cfg_given(c, "dropout")) c->dropout = 0;
  if (!cfg_given(c, "attn")) cfg_set(c, "attn", "none", "resnet preset");
}

/* scope.conv_name: conv cin -> cout, k x k, stride, pad (k-1)/2, no bias, kaiming normal (fan_out) as
 * torchvision; scope.bn_name: its BN */
static void rn_declare_convbn(struct rn_convbn *cb, struct nn_scope s, const char *conv_name, const char *bn_name,
                              int64_t cin, int64_t cout, int64_t k, int64_t stride) {
  cb->conv = nn_conv2d_decl(s, conv_name, cin, cout, k, stride, (k - 1) / 2, 0);
  struct nn_param *w = &s.P->p[cb->conv.weight];
  w->init = NN_INIT_NORMAL;
  w->init_a = sqrtf(2.0f / (float)(cout * k * k));
  cb->bn = nn_batchnorm2d_decl(s, bn_name, cout);
}

/* Output size of a k x k convolution (or pool) with stride s and padding p on n pixels. */
static int64_t rn_out(int64_t n, int64_t k, int64_t s, int64_t p) { return (n + 2 * p - k) / s + 1; }

/* Parse --attn-stages "3,4" into a bit set of stages 1..4. */
static nn_status rn_parse_stages(const char *s, unsigned *set) {
  *set = 0;
  char buf[CFG_STR];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    char *end;
    long v = strtol(tok, &end, 10);
    if (*end || v < 1 || v > 4)
      return nn_fail(NN_ERR_ARG, "option --attn-stages: '%s' is not a stage (a list of 1..4, e.g. 3,4)", tok);
    *set |= 1u << v;
  }
  return NN_OK;
}

static nn_status resnet_build_depth(void **self, const struct cfg *c, const struct ds_meta *m, struct nn_params *P,
                                    int depth) {
  if (m->kind != DS_IMAGE) return nn_fail(NN_ERR_ARG, "model %s needs an image dataset, got another kind", c->model);
  static const int counts18[4] = {2, 2, 2, 2}, counts34[4] = {3, 4, 6, 3};
  const int *counts = depth == 18 ? counts18 : counts34;
  int bottleneck = depth == 50, expansion = bottleneck ? 4 : 1;
  const char *stem = cfg_str(c, "stem"), *an = cfg_str(c, "attn");
  int64_t heads = cfg_int(c, "heads");
  int imagenet = strcmp(stem, "imagenet") == 0 || (strcmp(stem, "auto") == 0 && m->h > 64 && m->w > 64);
  enum rn_attn attn = strcmp(an, "none") == 0 ? RN_ATTN_NONE : strcmp(an, "seed") == 0 ? RN_ATTN_SEED : RN_ATTN_SPATIAL;
  unsigned stages = 0;
  if (attn != RN_ATTN_NONE) NN_TRY(rn_parse_stages(cfg_str(c, "attn_stages"), &stages));
  /* spatial size through the stem */
  int64_t h = m->h, w = m->w;
  if (imagenet) {
    h = rn_out(rn_out(h, 7, 2, 3), 3, 2, 1);
    w = rn_out(rn_out(w, 7, 2, 3), 3, 2, 1);
  }
  if (h < 1 || w < 1)
    return nn_fail(NN_ERR_ARG, "model %s: %lldx%lld images are too small for --stem imagenet", c->model,
                   (long long)m->h, (long long)m->w);
  struct resnet *r = calloc(1, sizeof *r);
  int nblocks = counts[0] + counts[1] + counts[2] + counts[3];
  if (r) r->blocks = calloc((size_t)nblocks, sizeof *r->blocks);
  if (!r || !r->blocks) {
    if (r) free(r);
    return nn_fail(NN_ERR_OOM, "out of memory");
  }
  r->bottleneck = bottleneck;
  r->imagenet_stem = imagenet;
  r->nblocks = nblocks;
  r->meta = m;
  struct nn_scope root = nn_scope_root(P);
  if (imagenet) rn_declare_convbn(&r->stem, root, "conv1", "bn1", m->c, 64, 7, 2);
  else rn_declare_convbn(&r->stem, root, "conv1", "bn1", m->c, 64, 3, 1);
  int64_t inplanes = 64;
  int bi = 0;
  nn_status st = NN_OK;
  for (int s = 0; s < 4 && st == NN_OK; s++) {
    int64_t planes = 64 << s, out = planes * expansion;
    for (int j = 0; j < counts[s]; j++, bi++) {
      struct rn_block *B = &r->blocks[bi];
      int64_t stride = j == 0 && s > 0 ? 2 : 1;
      struct nn_scope bs = nn_scope_sub(root, "layer%d.%d", s + 1, j);
      if (bottleneck) {
        rn_declare_convbn(&B->c[0], bs, "conv1", "bn1", inplanes, planes, 1, 1);
        rn_declare_convbn(&B->c[1], bs, "conv2", "bn2", planes, planes, 3, stride);
        rn_declare_convbn(&B->c[2], bs, "conv3", "bn3", planes, out, 1, 1);
      } else {
        rn_declare_convbn(&B->c[0], bs, "conv1", "bn1", inplanes, planes, 3, stride);
        rn_declare_convbn(&B->c[1], bs, "conv2", "bn2", planes, planes, 3, 1);
      }
      B->has_down = stride != 1 || inplanes != out;
      if (B->has_down) rn_declare_convbn(&B->down, bs, "downsample.0", "downsample.1", inplanes, out, 1, stride);
      inplanes = out;
      h = rn_out(h, 3, stride, 1);
      w = rn_out(w, 3, stride, 1);
      B->attn = j == counts[s] - 1 && (stages >> (s + 1) & 1) ? (int)attn : RN_ATTN_NONE;
      if (B->attn == RN_ATTN_NONE) continue;
      if (B->attn == RN_ATTN_SPATIAL) {
        if (out % heads != 0) {
          st = nn_fail(NN_ERR_ARG, "option --heads: the %lld channels of stage %d are not divisible by %lld heads",
                       (long long)out, s + 1, (long long)heads);
          break;
        }
        B->mha = blk_mha_decl(bs, "attn", out, (int)heads, NN_BIAS);
        B->gate = nn_scope_param(bs, "attn_gate", 1, NN_SHAPE(1), NN_INIT_ZEROS, 0, 0);
      } else {
        if (w != out) {
          st = nn_fail(NN_ERR_ARG,
                       "option --attn seed: the chapter's layer applies Linear(C) to the last axis (W) of the "
                       "(N,C,H,W) map, so it needs W == C; stage %d has W = %lld, C = %lld (use --attn spatial)",
                       s + 1, (long long)w, (long long)out);
          break;
        }
        B->mha = blk_mha_decl(bs, "attn", out, 1, NN_BIAS);
      }
    }
  }
  if (st != NN_OK) {
    free(r->blocks);
    free(r);
    return st;
  }
  r->feat = inplanes;
  r->fc = nn_linear_decl(root, "fc", inplanes, m->nclasses, NN_BIAS);
  *self = r;
  return NN_OK;
}

static nn_status resnet18_build(void **self, const struct cfg *c, const struct ds_meta *m, struct nn_params *P) {
  return resnet_build_depth(self, c, m, P, 18);
}
static nn_status resnet34_build(void **self, const struct cfg *c, const struct ds_meta *m, struct nn_params *P) {
  return resnet_build_depth(self, c, m, P, 34);
}
static nn_status resnet50_build(void **self, const struct cfg *c, const struct ds_meta *m, struct nn_params *P) {
  return resnet_build_depth(self, c, m, P, 50);
}

/* bn(conv(x)) (batch statistics in training, across ranks when the graph has a reduction hook), then
 * ReLU when relu */
static struct nn_tensor *rn_convbn(struct nn_graph *g, struct nn_params *P, const struct rn_convbn *cb,
                                   struct nn_tensor *x, int relu) {
  x = nn_batchnorm2d_fwd(g, P, &cb->bn, nn_conv2d_fwd(g, P, &cb->conv, x));
  return relu ? nn_relu(g, x) : x;
}

/* x(B,C,H,W) + gate * MHA over the H*W positions (spatial), or the chapter's layer (seed) */
static struct nn_tensor *rn_attention(const struct rn_block *blk, struct nn_graph *g, struct nn_params *P,
                                      struct nn_tensor *x) {
  if (!x) return NULL;
  int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
  if (blk->attn == RN_ATTN_SEED) { /* Linear(W) on the last axis, attention over H, per (n, c) plane */
    struct nn_tensor *t = nn_reshape(g, x, 3, NN_SHAPE(B * C, H, W));
    return nn_reshape(g, blk_mha_fwd(g, P, &blk->mha, t, 0, 0.0f, NULL), 4, NN_SHAPE(B, C, H, W));
  }
  struct nn_tensor *t = nn_reshape(g, nn_permute(g, x, (const int[]){0, 2, 3, 1}), 3, NN_SHAPE(B, H * W, C));
  struct nn_tensor *a = nn_mul(g, blk_mha_fwd(g, P, &blk->mha, t, 0, 0.0f, NULL), nn_pt(P, blk->gate));
  a = nn_permute(g, nn_reshape(g, a, 4, NN_SHAPE(B, H, W, C)), (const int[]){0, 3, 1, 2});
  return nn_add(g, x, a);
}

static struct nn_tensor *rn_block_forward(const struct resnet *r, const struct rn_block *blk, struct nn_graph *g,
                                          struct nn_params *P, struct nn_tensor *x) {
  int n = r->bottleneck ? 3 : 2;
  struct nn_tensor *y = x;
  for (int k = 0; k < n; k++) y = rn_convbn(g, P, &blk->c[k], y, k < n - 1);
  struct nn_tensor *id = blk->has_down ? rn_convbn(g, P, &blk->down, x, 0) : x;
  y = nn_relu(g, nn_add(g, y, id));
  return blk->attn != RN_ATTN_NONE ? rn_attention(blk, g, P, y) : y;
}

/* features(B, feat) after the global average pool */
static struct nn_tensor *rn_features(const struct resnet *r, struct nn_graph *g, struct nn_params *P,
                                     struct nn_tensor *x) {
  x = rn_convbn(g, P, &r->stem, x, 1);
  if (r->imagenet_stem) x = nn_maxpool2d(g, x, 3, 2, 1);
  for (int i = 0; i < r->nblocks; i++) x = rn_block_forward(r, &r->blocks[i], g, P, x);
  x = nn_adaptive_avgpool2d(g, x, 1, 1);
  return x ? nn_reshape(g, x, 2, NN_SHAPE(x->shape[0], r->feat)) : NULL;
}

static nn_status resnet_forward(void *self, struct nn_graph *g, struct nn_params *P, const struct ds_batch *b,
                                struct model_out *out) {
  struct resnet *r = self;
  struct nn_tensor *x = model_images_norm(g, b, r->meta);
  struct nn_tensor *logits = nn_linear_fwd(g, P, &r->fc, rn_features(r, g, P, x));
  struct nn_tensor *labels = model_index(g, b->labels, 1, NN_SHAPE(b->n));
  out->logits = logits;
  out->loss = logits && labels ? nn_cross_entropy(g, logits, labels, -100) : NULL;
  out->count = b->n;
  return g->status != NN_OK ? g->status : out->loss ? NN_OK : nn_fail(NN_ERR_OOM, "resnet: out of memory");
}

/* attn_train features: the pooled features (B, 512 or 2048) at layer "avgpool". */
static nn_status resnet_features(void *self, struct nn_graph *g, struct nn_params *P, const struct ds_batch *b,
                                 const char *layer, struct nn_tensor **out) {
  struct resnet *r = self;
  if (!layer || strcmp(layer, "avgpool") != 0)
    return nn_fail(NN_ERR_ARG, "option --layer: a resnet has the layer 'avgpool' (the pooled features), not '%s'",
                   layer ? layer : "");
  *out = rn_features(r, g, P, model_images_norm(g, b, r->meta));
  return g->status;
}

static void resnet_destroy(void *self) {
  struct resnet *r = self;
  free(r->blocks);
  free(r);
}

#define RESNET_DEF(depth, what)                                                                                  \
  const struct model_def model_resnet##depth = {                                                               \
      .name = "resnet" #depth,                                                                                 \
      .summary = "torchvision ResNet-" #depth " (" what "), --stem cifar|imagenet, --attn none|seed|spatial " \
                 "--attn-stages 3,4",                                                                          \
      .task = &task_classification,                                                                            \
      .keys = &resnet_keys,                                                                                    \
      .preset = resnet_preset,                                                                                 \
      .build = resnet##depth##_build,                                                                          \
      .forward = resnet_forward,                                                                               \
      .destroy = resnet_destroy,                                                                               \
      .features = resnet_features,                                                                             \
  }

RESNET_DEF(18, "basic blocks");
RESNET_DEF(34, "basic blocks");
RESNET_DEF(50, "bottlenecks");
