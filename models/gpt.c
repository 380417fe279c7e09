/* gpt: minGPT as the chapter ports it (§9.4): token + learned position embeddings, dropout;
 * n pre-norm blocks of causal multi-head self-attention (query/key/value/proj linears,
 * dropout on the probabilities and after proj) and a 4x MLP with GELU; final layernorm; head
 * without bias. Weights ~ normal(0, 0.02), biases 0; AdamW decays only linear weights. */
#include <stdlib.h>
#include <string.h>
#include "blocks.h"
#include "model.h"

struct gpt_layer {
  struct nn_layernorm ln1, ln2;
  struct blk_mha attn;
  struct nn_linear fc, proj; /* mlp.0, mlp.2 */
};

struct gpt {
  struct blk_lm lm; /* first: the shared language-model glue */
  struct nn_embedding tok;
  int pos; /* (1, block, C) learned position embeddings */
  struct nn_layernorm ln_f;
  struct nn_linear head;
  struct gpt_layer *layer;
  int64_t vocab, n_embd, n_layer, n_head, block;
  float dropout;
};

/* minGPT hyperparameters shared by both presets */
/* the family's hyperparameter keys (flags, config files, --help, checkpoints; src/cfg.h) */
static const struct cfg_model_key gpt_key_table[] = {
    {"n_embd", CFG_T_INT, 0, 1e6, NULL, "0", "embedding width (0 = preset)"},
    {"n_layer", CFG_T_INT, 0, 1e4, NULL, "0", "layers (0 = preset)"},
    {"n_head", CFG_T_INT, 0, 1e4, NULL, "0", "attention heads (0 = preset)"},
    {"block", CFG_T_INT, 0, 1e7, NULL, "0", "context length in tokens (0 = preset)"},
};
static const struct cfg_keyset gpt_keys = {"gpt, gpt-small", gpt_key_table, (int)(sizeof gpt_key_table / sizeof gpt_key_table[0])};

static void gpt_common(struct cfg *c) {
  if (!cfg_given(c, "lr")) c->lr = 3e-4;
  if (!cfg_given(c, "optimizer")) strcpy(c->optimizer, "adamw");
  if (!cfg_given(c, "weight_decay")) c->weight_decay = 0.1;
  if (!cfg_given(c, "beta2")) c->beta2 = 0.95;
  if (!cfg_given(c, "clip")) c->clip = 0.5;
  if (!cfg_given(c, "dropout")) c->dropout = 0.1;
  if (!cfg_given(c, "schedule")) strcpy(c->schedule, "const");
  if (!cfg_given(c, "epochs") && !cfg_given(c, "steps")) c->steps = 2000;
}

static void gpt_preset(struct cfg *c) {
  gpt_common(c);
  cfg_preset_int(c, "n_embd", 512);
  cfg_preset_int(c, "n_head", 8);
  cfg_preset_int(c, "n_layer", 8);
  cfg_preset_int(c, "block", 128);
  if (!cfg_given(c, "batch")) c->batch = 64;
}

static void gpt_small_preset(struct cfg *c) {
  gpt_common(c);
  cfg_preset_int(c, "n_embd", 128);
  cfg_preset_int(c, "n_head", 4);
  cfg_preset_int(c, "n_layer", 4);
  cfg_preset_int(c, "block", 128);
  if (!cfg_given(c, "batch")) c->batch = 32;
}

static struct nn_tensor *gpt_logits(void *self, struct nn_graph *g, struct nn_params *P, struct nn_tensor *idx,
                                    struct blk_kv_cache *caches);

static nn_status gpt_build(void **self, const struct cfg *c, const struct ds_meta *m, struct nn_params *P) {
  int64_t n_embd = cfg_int(c, "n_embd"), n_head = cfg_int(c, "n_head");
  if (n_embd % n_head != 0)
    return nn_fail(NN_ERR_ARG, "--n-embd %lld is not divisible by --n-head %lld", (long long)n_embd, (long long)n_head);
  struct gpt *n = calloc(1, sizeof *n);
  if (!n || !(n->layer = calloc((size_t)cfg_int(c, "n_layer"), sizeof *n->layer))) {
    free(n);
    return nn_fail(NN_ERR_OOM, "out of memory");
  }
  n->vocab = m->vocab_size;
  n->n_embd = cfg_int(c, "n_embd");
  n->n_layer = cfg_int(c, "n_layer");
  n->n_head = cfg_int(c, "n_head");
  n->block = cfg_int(c, "block");
  n->dropout = (float)c->dropout;
  int64_t C = n->n_embd;
  struct nn_scope root = nn_scope_root(P);
  int first = P->n;
  n->tok = nn_embedding_decl(root, "tok_emb", n->vocab, C);
  n->pos = nn_scope_param(root, "pos_emb", 3, NN_SHAPE(1, n->block, C), NN_INIT_ZEROS, 0, 0);
  for (int64_t l = 0; l < n->n_layer; l++) {
    struct gpt_layer *L = &n->layer[l];
    struct nn_scope b = nn_scope_sub(root, "blocks.%lld", (long long)l);
    L->ln1 = nn_layernorm_decl(b, "ln1", C, NN_BIAS);
    L->ln2 = nn_layernorm_decl(b, "ln2", C, NN_BIAS);
    L->attn = blk_mha_decl(b, "attn", C, (int)n->n_head, NN_BIAS);
    L->fc = nn_linear_decl(b, "mlp.0", C, 4 * C, NN_BIAS);
    L->proj = nn_linear_decl(b, "mlp.2", 4 * C, C, NN_BIAS);
  }
  n->ln_f = nn_layernorm_decl(root, "ln_f", C, NN_BIAS);
  n->head = nn_linear_decl(root, "head", C, n->vocab, 0);
  blk_init_normal(P, first, P->n, 0.02f);
  P->p[n->pos].init = NN_INIT_ZEROS; /* position embeddings start at zero, as in minGPT */
  n->lm = (struct blk_lm){.logits = gpt_logits, .layers_mem = n->layer, .layers = n->n_layer, .width = C, .block = n->block, .vocab = n->vocab};
  *self = n;
  return NN_OK;
}

/* logits(B,T,V) of token ids idx(B,T); caches (one per layer) for incremental decoding or NULL */
static struct nn_tensor *gpt_logits(void *self, struct nn_graph *g, struct nn_params *P, struct nn_tensor *idx,
                                    struct blk_kv_cache *caches) {
  struct gpt *n = self;
  int64_t T = idx->shape[1], pos0 = caches ? caches[0].len : 0;
  struct nn_tensor *pos = nn_narrow(g, nn_pt(P, n->pos), 1, pos0, T);
  struct nn_tensor *x = nn_dropout(g, nn_add(g, nn_embedding_fwd(g, P, &n->tok, idx), pos), n->dropout);
  for (int64_t l = 0; l < n->n_layer; l++) {
    struct gpt_layer *L = &n->layer[l];
    struct nn_tensor *a = blk_mha_fwd(g, P, &L->attn, nn_layernorm_fwd(g, P, &L->ln1, x), 1, n->dropout,
                                      caches ? &caches[l] : NULL);
    x = nn_add(g, x, nn_dropout(g, a, n->dropout));
    struct nn_tensor *h = nn_gelu_erf(g, nn_linear_fwd(g, P, &L->fc, nn_layernorm_fwd(g, P, &L->ln2, x)));
    x = nn_add(g, x, nn_dropout(g, nn_linear_fwd(g, P, &L->proj, h), n->dropout));
  }
  return nn_linear_fwd(g, P, &n->head, nn_layernorm_fwd(g, P, &n->ln_f, x));
}

#define GPT_DEF(NAME, PRESET, SUMMARY)                                                        \
  {.name = NAME, .summary = SUMMARY, .task = &task_lm, .keys = &gpt_keys, .preset = PRESET, .build = gpt_build, \
   BLK_LM_DEF_FNS}

const struct model_def model_gpt = GPT_DEF("gpt", gpt_preset, "minGPT character model: n_embd 512, 8 heads, 8 layers, block 128, batch 64 (chapter values)");
const struct model_def model_gpt_small = GPT_DEF("gpt-small", gpt_small_preset, "minGPT, small: n_embd 128, 4 heads, 4 layers, block 128, batch 32");
