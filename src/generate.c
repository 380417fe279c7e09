/* attn_train generate --ckpt DIR --prompt "ROMEO:" --length N --temperature T --top-k K --seed S
 * Incremental decoding through the model's decoding state (a language model's key/value caches):
 * a new character costs one position of every layer (O(context)), not a forward pass over the whole
 * context. When the context (block positions) is full, --context chooses:
 *   half   (default) restart the state from the last block/2 characters: one pass over block/2
 *          positions every block/2 characters, so O(1) passes per character on average, but the
 *          characters right after a restart see only block/2 characters of context;
 *   slide  minGPT's exact sliding window: every new character is predicted from the last block
 *          characters, recomputed from scratch (a pass over block positions per character, about
 *          block/2 times the cost of half once the context is full). */
#include "generate.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include "cfg.h"
#include "ckpt.h"
#include "export.h"
#include "model.h"

struct gen_opts {
  const char *ckpt, *prompt, *data, *context;
  int64_t length, top_k, threads;
  const char *device;
  double temperature;
  uint64_t seed;
};

static nn_status parse_num(const char *flag, const char *v, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (!*v || *end || errno || !(x >= lo && x <= hi))
    return nn_fail(NN_ERR_ARG, "option %s: bad value '%s' (expected a number in [%g, %g])", flag, v, lo, hi);
  *out = x;
  return NN_OK;
}

static nn_status parse_gen(struct gen_opts *o, int argc, char **argv, int first, int *help) {
  *o = (struct gen_opts){.prompt = "\n", .context = "half", .length = 500, .temperature = 1.0, .seed = 1, .threads = 1, .device = "cpu"};
  for (int a = first; a < argc; a++) {
    const char *f = argv[a];
    if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
      *help = 1;
      continue;
    }
    if (a + 1 >= argc) return nn_fail(NN_ERR_ARG, "option '%s' needs a value (see generate --help)", f);
    const char *v = argv[++a];
    double x = 0;
    nn_status st = NN_OK;
    if (!strcmp(f, "--ckpt")) o->ckpt = v;
    else if (!strcmp(f, "--prompt")) o->prompt = v;
    else if (!strcmp(f, "--device")) o->device = v;
    else if (!strcmp(f, "--data")) o->data = v;
    else if (!strcmp(f, "--context")) {
      if (strcmp(v, "half") && strcmp(v, "slide"))
        return nn_fail(NN_ERR_ARG, "option --context: bad value '%s' (expected half or slide)", v);
      o->context = v;
    }
    else if (!strcmp(f, "--length")) { st = parse_num(f, v, 0, 1e9, &x); o->length = (int64_t)x; }
    else if (!strcmp(f, "--top-k")) { st = parse_num(f, v, 0, 1e9, &x); o->top_k = (int64_t)x; }
    else if (!strcmp(f, "--threads")) { st = parse_num(f, v, 1, 4096, &x); o->threads = (int64_t)x; }
    else if (!strcmp(f, "--temperature")) st = parse_num(f, v, 0, 100, &o->temperature);
    else if (!strcmp(f, "--seed")) { st = parse_num(f, v, 0, 9e18, &x); o->seed = (uint64_t)x; }
    else return nn_fail(NN_ERR_ARG, "unknown option '%s' for generate (see generate --help)", f);
    NN_TRY(st);
  }
  if (!*help && !o->ckpt) return nn_fail(NN_ERR_ARG, "generate needs --ckpt DIR (a checkpoint directory or its root, or an export .h5)");
  return NN_OK;
}

/* Map the UTF-8 prompt to vocabulary ids (longest match); error names the first unknown character. */
static nn_status encode(const struct ds_meta *m, const char *text, int32_t *ids, int64_t *n, const char *data) {
  return gen_encode(m, text, ids, n, data, "--prompt");
}

nn_status gen_encode(const struct ds_meta *m, const char *text, int32_t *ids, int64_t *n, const char *data, const char *flag) {
  *n = 0;
  for (const char *p = text; *p;) {
    int best = -1;
    size_t blen = 0;
    for (int i = 0; i < m->vocab_size; i++) {
      size_t l = strlen(m->vocab[i]);
      if (l > blen && strncmp(p, m->vocab[i], l) == 0) best = i, blen = l;
    }
    if (best < 0) {
      int clen = ((unsigned char)*p >= 0xf0) ? 4 : ((unsigned char)*p >= 0xe0) ? 3 : ((unsigned char)*p >= 0xc0) ? 2 : 1;
      return nn_fail(NN_ERR_ARG, "option %s: character '%.*s' (byte %ld) is not in the vocabulary of %s", flag, clen, p,
                     (long)(p - text), data);
    }
    ids[(*n)++] = best;
    p += blen;
  }
  if (*n == 0) return nn_fail(NN_ERR_ARG, "option %s: empty text", flag);
  return NN_OK;
}

/* Sample an id from logits(V) with temperature and top-k (argmax when temperature is 0). */
static int32_t sample(const float *logits, int64_t V, const struct gen_opts *o, uint64_t i, double *probs) {
  int64_t best = 0;
  for (int64_t v = 1; v < V; v++)
    if (logits[v] > logits[best]) best = v;
  if (o->temperature == 0) return (int32_t)best;
  double kth = -INFINITY;
  if (o->top_k > 0 && o->top_k < V) { /* the k-th largest logit */
    for (int64_t v = 0; v < V; v++) probs[v] = logits[v];
    for (int64_t k = 0; k < o->top_k; k++) {
      int64_t a = -1;
      for (int64_t v = 0; v < V; v++)
        if (probs[v] != -INFINITY && (a < 0 || probs[v] > probs[a])) a = v;
      kth = probs[a];
      probs[a] = -INFINITY;
    }
  }
  double sum = 0;
  for (int64_t v = 0; v < V; v++) {
    probs[v] = logits[v] >= kth ? exp((logits[v] - logits[best]) / o->temperature) : 0.0;
    sum += probs[v];
  }
  double u = nn_rng_uniform(o->seed, NN_RNG_STREAM_GENERATE, 0, i) * sum, acc = 0;
  for (int64_t v = 0; v < V; v++) {
    acc += probs[v];
    if (u < acc) return (int32_t)v;
  }
  return (int32_t)best;
}

struct generator {
  struct gen_model M; /* the model, its parameters and backend, the vocabulary (gen_model_open_task) */
  struct nn_graph g;
  void *state;            /* the model's decoding state */
  int64_t held, context, V; /* positions the state holds, its capacity (0 = unbounded), vocabulary */
  float *logits;
};

/* Run the new tokens ids[0..n) through the model, advancing the state; logits of the last one. */
static nn_status feed(struct generator *G, const int32_t *ids, int64_t n) {
  nn_graph_reset(&G->g);
  struct nn_tensor *logits = NULL;
  NN_TRY(G->M.def->dec_step(G->M.model, G->state, &G->g, &G->M.P, ids, n, &logits));
  nn_be_to_host(G->g.be, G->logits, logits->data + (n - 1) * G->V, sizeof(float) * (size_t)G->V);
  G->held += n;
  return NN_OK;
}

/* Forget the state and feed window[0..n) again. */
static nn_status refeed(struct generator *G, const int32_t *window, int64_t n) {
  G->M.def->dec_reset(G->M.model, G->state);
  G->held = 0;
  return feed(G, window, n);
}

nn_status gen_open_source(struct source *src, const char *ckpt, struct comm *c, struct cfg *cfg) {
  struct stat sb;
  src->is_export = stat(ckpt, &sb) == 0 && S_ISREG(sb.st_mode);
  char meta_path[1100];
  if (src->is_export) {
    snprintf(src->path, sizeof src->path, "%s", ckpt);
    NN_TRY(export_read_info(ckpt, src->s.model, sizeof src->s.model, src->s.config_json, sizeof src->s.config_json));
    snprintf(meta_path, sizeof meta_path, "%s", ckpt);
  } else {
    NN_TRY(ckpt_resolve(c, ckpt, 0, src->path, sizeof src->path));
    NN_TRY(ckpt_read_state(src->path, &src->s));
    snprintf(meta_path, sizeof meta_path, "%s/meta.h5", src->path);
  }
  NN_TRY(cfg_load_json(cfg, src->s.config_json, ckpt));
  src->have_meta = task_meta_read(meta_path, &src->meta) == NN_OK;
  return NN_OK;
}

nn_status gen_load_params(struct source *src, struct nn_params *P, struct comm *c, const char *model) {
  if (!src->is_export) {
    snprintf(src->s.model, sizeof src->s.model, "%s", model);
    return ckpt_load(c, src->path, &src->s, P, NULL);
  }
  struct ckpt_import_report r;
  NN_TRY(ckpt_import(P, src->path, &r, NULL));
  if (r.matched != P->n)
    return nn_fail(NN_ERR_FORMAT, "%s: %d of the %d parameters of model %s are missing or have another shape", src->path,
                   r.missing + r.mismatched, P->n, model);
  return NN_OK;
}

static nn_status run(struct generator *G, const struct gen_opts *o, struct comm *c) {
  nn_status st = gen_model_open_task(&G->M, c, o->ckpt, o->data, o->device, (int)o->threads, &task_lm, "does not generate text");
  const struct ds_meta *m = G->M.meta;
  const char *where = G->M.reader ? (o->data ? o->data : G->M.cfg.data) : o->ckpt; /* the vocabulary's source */
  int32_t *ids = malloc(sizeof(int32_t) * (strlen(o->prompt) + 1));
  int64_t n = 0;
  if (st == NN_OK) st = ids ? encode(m, o->prompt, ids, &n, where) : nn_fail(NN_ERR_OOM, "out of memory");
  if (G->M.be) nn_graph_init(&G->g, G->M.be, 0);
  G->g.training = 0;
  G->g.grad_enabled = 0;
  if (st == NN_OK) {
    G->M.def->dec_info(G->M.model, &G->context, &G->V);
    st = G->M.def->dec_open(G->M.model, &G->g, &G->M.P, NULL, 0, &G->state);
  }
  int64_t context = G->context > 0 ? G->context : n + o->length;
  G->logits = malloc(sizeof(float) * (size_t)G->V);
  double *probs = malloc(sizeof(double) * (size_t)G->V);
  int32_t *window = malloc(sizeof(int32_t) * (size_t)(context + 1));
  if (st == NN_OK && (!G->logits || !probs || !window)) st = nn_fail(NN_ERR_OOM, "out of memory");
  int slide = strcmp(o->context, "slide") == 0;
  /* the prompt (its last `context` characters) fills the state in one pass */
  int64_t keep = n < context ? n : context, wlen = keep;
  if (st == NN_OK) {
    memcpy(window, ids + n - keep, sizeof(int32_t) * (size_t)keep);
    fputs(o->prompt, stdout);
    fflush(stdout);
    st = feed(G, window, keep);
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int64_t i = 0; st == NN_OK && i < o->length; i++) {
    int32_t next = sample(G->logits, G->V, o, (uint64_t)i, probs);
    fputs(m->vocab[next], stdout);
    fflush(stdout);
    if (G->context > 0 && G->held == G->context) {
      if (slide) { /* the last `context` characters, recomputed */
        memmove(window, window + 1, sizeof(int32_t) * (size_t)(wlen - 1));
        window[wlen - 1] = next;
      } else { /* the last half of the context, then one character at a time again */
        int64_t half = G->context / 2;
        memmove(window, window + wlen - half, sizeof(int32_t) * (size_t)half);
        wlen = half;
        window[wlen++] = next;
      }
      st = refeed(G, window, wlen);
    } else {
      if (wlen < context) window[wlen++] = next;
      st = feed(G, &next, 1);
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  if (st == NN_OK) fprintf(stderr, "\ngenerate: %lld characters in %.2f s (%.0f characters/s, --context %s)\n",
                           (long long)o->length, secs, secs > 0 ? (double)o->length / secs : 0.0, o->context);
  if (G->state) G->M.def->dec_free(G->M.model, G->state);
  free(G->logits);
  free(probs);
  free(window);
  free(ids);
  nn_graph_destroy(&G->g);
  gen_model_close(&G->M);
  return st;
}

nn_status generate_main(struct comm *c, int argc, char **argv, int first) {
  struct gen_opts o;
  int help = 0;
  NN_TRY(parse_gen(&o, argc, argv, first, &help));
  if (help) {
    printf("usage: attn_train generate --ckpt DIR|FILE.h5 [--prompt TEXT] [--length N] [--temperature T] [--top-k K]\n"
           "                           [--seed S] [--context half|slide] [--data DIR] [--threads N]\n"
           "                           [--device cpu|cuda[:N]]\n"
           "  --ckpt DIR        a checkpoint (step_NNNNNNNN/), a checkpoint directory (its latest), or an export\n"
           "                    (attn_train export / --save-params): the vocabulary comes with it\n"
           "  --prompt TEXT     text to continue; every character must be in the vocabulary [\\n]\n"
           "  --length N        characters to sample [500]\n"
           "  --temperature T   softmax temperature; 0 = greedy [1]\n"
           "  --top-k K         sample among the K most likely characters; 0 = all [0]\n"
           "  --seed S          the same seed gives the same text [1]\n"
           "  --context half|slide  when the context is full: restart from its last half (cheap) or slide\n"
           "                    a full window, recomputed for every character (minGPT; slower) [half]\n"
           "  --data DIR        take the vocabulary from this dataset instead [the checkpoint's own]\n"
           "  --device D        cpu, cuda or cuda:N [cpu]\n");
    return NN_OK;
  }
  struct generator G;
  memset(&G, 0, sizeof G);
  return run(&G, &o, c);
}

/* ---- a model for inference tools (attn_train attention) ---- */

nn_status gen_model_open(struct gen_model *M, struct comm *c, const char *ckpt, const char *data, const char *device,
                         int threads) {
  return gen_model_open_task(M, c, ckpt, data, device, threads, NULL, NULL);
}

nn_status gen_model_open_task(struct gen_model *M, struct comm *c, const char *ckpt, const char *data, const char *device,
                              int threads, const struct task *task, const char *refusal) {
  memset(M, 0, sizeof *M);
  nn_params_init(&M->P);
  struct source *src = calloc(1, sizeof *src);
  if (!src) return nn_fail(NN_ERR_OOM, "out of memory");
  M->src = src;
  cfg_defaults(&M->cfg);
  NN_TRY(gen_open_source(src, ckpt, c, &M->cfg));
  M->def = model_find(M->cfg.model);
  if (task && (!M->def || M->def->task != task || !M->def->dec_open))
    return nn_fail(NN_ERR_ARG, "%s holds model '%s', which %s", ckpt, M->cfg.model, refusal);
  if (!M->def) return nn_fail(NN_ERR_FORMAT, "%s holds model '%s', which this build does not know", ckpt, M->cfg.model);
  M->meta = &src->meta;
  if (data || !src->have_meta) {
    const char *d = data ? data : M->cfg.data;
    nn_status st = ds_open(&M->reader, d, "train");
    if (st != NN_OK)
      return nn_fail(st, "%s has no data description (written before exports kept it) and the training data is unreadable (%s); give --data DIR",
                     ckpt, nn_errmsg());
    M->meta = ds_get_meta(M->reader);
  }
  NN_TRY(nn_backend_open(device, &(struct nn_backend_opts){.threads = threads, .local_rank = c->local_rank}, &M->be));
  NN_TRY(M->def->build(&M->model, &M->cfg, M->meta, &M->P));
  NN_TRY(nn_params_alloc(&M->P, M->be));
  return gen_load_params(src, &M->P, c, M->cfg.model);
}

void gen_model_close(struct gen_model *M) {
  if (M->model) M->def->destroy(M->model);
  nn_params_free(&M->P);
  nn_backend_close(M->be);
  if (M->reader) ds_close(M->reader);
  if (M->src) task_meta_free(&M->src->meta);
  free(M->src);
  memset(M, 0, sizeof *M);
}
