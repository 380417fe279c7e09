/* transformer: the chapter's character Transformer (§9.5): an "adaptive" embedding (vocab ->
 * 4*hidden, then a linear projection to hidden), pre-norm layers of causal multi-head attention
 * with rotary position embeddings (base 10000) on queries and keys and no bias on the four
 * projections, a SwiGLU feed-forward w3(silu(w1 x) * w2 x), dropout, final layernorm and an
 * output linear. Adam, linear warm-up then cosine decay, clipping at norm 5. */
#include <stdlib.h>
#include <string.h>
#include "blocks.h"
#include "model.h"

struct tf_layer {
  struct nn_layernorm ln1, ln2;
  struct blk_mha attn;
  struct nn_linear w1, w2, w3; /* ffn: w3(silu(w1 x) * w2 x) */
};

struct tf {
  struct blk_lm lm; /* first: the shared language-model glue */
  struct nn_embedding emb;
  struct nn_linear emb_proj, out;
  struct nn_layernorm ln_f;
  struct tf_layer *layer;
  int64_t vocab, hidden, n_layer, n_head, ffn, block;
  float dropout;
};

/* the family's hyperparameter keys (flags, config files, --help, checkpoints; src/cfg.h) */
static const struct cfg_model_key tf_key_table[] = {
    {"hidden", CFG_T_INT, 0, 1e7, NULL, "0", "hidden size (0 = preset)"},
    {"n_layer", CFG_T_INT, 0, 1e4, NULL, "0", "layers (0 = preset)"},
    {"n_head", CFG_T_INT, 0, 1e4, NULL, "0", "attention heads (0 = preset)"},
    {"ffn", CFG_T_INT, 0, 1e7, NULL, "0", "feed-forward width (0 = preset)"},
    {"block", CFG_T_INT, 0, 1e7, NULL, "0", "context length in tokens (0 = preset)"},
};
static const struct cfg_keyset tf_keys = {"transformer, transformer-small", tf_key_table, (int)(sizeof tf_key_table / sizeof tf_key_table[0])};

static void tf_common(struct cfg *c) {
  if (!cfg_given(c, "lr")) c->lr = 1e-4;
  if (!cfg_given(c, "optimizer")) strcpy(c->optimizer, "adam");
  if (!cfg_given(c, "weight_decay")) c->weight_decay = 0;
  if (!cfg_given(c, "clip")) c->clip = 5;
  if (!cfg_given(c, "dropout")) c->dropout = 0.1;
  if (!cfg_given(c, "schedule")) strcpy(c->schedule, "cosine");
}

static void tf_preset(struct cfg *c) {
  tf_common(c);
  cfg_preset_int(c, "hidden", 512);
  cfg_preset_int(c, "n_head", 8);
  cfg_preset_int(c, "n_layer", 12);
  cfg_preset_int(c, "ffn", 2048);
  cfg_preset_int(c, "block", 256);
  if (!cfg_given(c, "batch")) c->batch = 32;
  if (!cfg_given(c, "warmup")) c->warmup = 4000;
  if (!cfg_given(c, "epochs") && !cfg_given(c, "steps")) c->steps = 20000;
}

static void tf_small_preset(struct cfg *c) {
  tf_common(c);
  cfg_preset_int(c, "hidden", 128);
  cfg_preset_int(c, "n_head", 4);
  cfg_preset_int(c, "n_layer", 4);
  cfg_preset_int(c, "ffn", 512);
  cfg_preset_int(c, "block", 128);
  if (!cfg_given(c, "batch")) c->batch = 16;
  if (!cfg_given(c, "lr")) c->lr = 1e-3;
  if (!cfg_given(c, "warmup")) c->warmup = 200;
  if (!cfg_given(c, "epochs") && !cfg_given(c, "steps")) c->steps = 2000;
}

static struct nn_tensor *tf_logits(void *self, struct nn_graph *g, struct nn_params *P, struct nn_tensor *idx,
                                    struct blk_kv_cache *caches);

static nn_status tf_build(void **self, const struct cfg *c, const struct ds_meta *m, struct nn_params *P) {
  int64_t hidden = cfg_int(c, "hidden"), n_head = cfg_int(c, "n_head");
  if (hidden % n_head != 0 || (hidden / n_head) % 2 != 0)
    return nn_fail(NN_ERR_ARG, "--hidden %lld must split into --n-head %lld heads of an even width (rotary embeddings)",
                   (long long)hidden, (long long)n_head);
  struct tf *n = calloc(1, sizeof *n);
  if (!n || !(n->layer = calloc((size_t)cfg_int(c, "n_layer"), sizeof *n->layer))) {
    free(n);
    return nn_fail(NN_ERR_OOM, "out of memory");
  }
  n->vocab = m->vocab_size;
  n->hidden = cfg_int(c, "hidden");
  n->n_layer = cfg_int(c, "n_layer");
  n->n_head = cfg_int(c, "n_head");
  n->ffn = cfg_int(c, "ffn");
  n->block = cfg_int(c, "block");
  n->dropout = (float)c->dropout;
  int64_t H = n->hidden;
  struct nn_scope root = nn_scope_root(P);
  n->emb = nn_embedding_decl(root, "embed.emb", n->vocab, 4 * H);
  n->emb_proj = nn_linear_decl(root, "embed.proj", 4 * H, H, 0);
  for (int64_t l = 0; l < n->n_layer; l++) {
    struct tf_layer *L = &n->layer[l];
    struct nn_scope b = nn_scope_sub(root, "layers.%lld", (long long)l);
    L->ln1 = nn_layernorm_decl(b, "ln1", H, NN_BIAS);
    L->attn = blk_mha_decl(b, "attn", H, (int)n->n_head, 0);
    L->attn.rope_base = 10000.0f;
    L->ln2 = nn_layernorm_decl(b, "ln2", H, NN_BIAS);
    struct nn_scope f = nn_scope_sub(b, "ffn");
    L->w1 = nn_linear_decl(f, "w1", H, n->ffn, 0);
    L->w2 = nn_linear_decl(f, "w2", H, n->ffn, 0);
    L->w3 = nn_linear_decl(f, "w3", n->ffn, H, 0);
  }
  n->ln_f = nn_layernorm_decl(root, "ln_f", H, NN_BIAS);
  n->out = nn_linear_decl(root, "out", H, n->vocab, NN_BIAS);
  n->lm = (struct blk_lm){.logits = tf_logits, .layers_mem = n->layer, .layers = n->n_layer, .width = H, .block = n->block, .vocab = n->vocab};
  *self = n;
  return NN_OK;
}

static struct nn_tensor *tf_logits(void *self, struct nn_graph *g, struct nn_params *P, struct nn_tensor *idx,
                                   struct blk_kv_cache *caches) {
  struct tf *n = self;
  struct nn_tensor *x = nn_linear_fwd(g, P, &n->emb_proj, nn_embedding_fwd(g, P, &n->emb, idx));
  x = nn_dropout(g, x, n->dropout);
  for (int64_t l = 0; l < n->n_layer; l++) {
    struct tf_layer *L = &n->layer[l];
    struct nn_tensor *a = blk_mha_fwd(g, P, &L->attn, nn_layernorm_fwd(g, P, &L->ln1, x), 1, n->dropout,
                                      caches ? &caches[l] : NULL);
    x = nn_add(g, x, nn_dropout(g, a, n->dropout));
    struct nn_tensor *h = nn_layernorm_fwd(g, P, &L->ln2, x);
    struct nn_tensor *f = nn_mul(g, nn_silu(g, nn_linear_fwd(g, P, &L->w1, h)), nn_linear_fwd(g, P, &L->w2, h));
    x = nn_add(g, x, nn_dropout(g, nn_linear_fwd(g, P, &L->w3, f), n->dropout));
  }
  return nn_linear_fwd(g, P, &n->out, nn_layernorm_fwd(g, P, &n->ln_f, x));
}

#define TF_DEF(NAME, PRESET, SUMMARY)                                                          \
  {.name = NAME, .summary = SUMMARY, .task = &task_lm, .keys = &tf_keys, .preset = PRESET, .build = tf_build, \
   BLK_LM_DEF_FNS}

const struct model_def model_transformer = TF_DEF("transformer", tf_preset, "character Transformer (RoPE, SwiGLU, pre-norm): hidden 512, 8 heads, 12 layers, ffn 2048, sequence 256, batch 32, warm-up 4000");
const struct model_def model_transformer_small = TF_DEF("transformer-small", tf_small_preset, "character Transformer for CPU runs: hidden 128, 4 heads, 4 layers, ffn 512, sequence 128, batch 16");
