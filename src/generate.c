/* attn_train generate --ckpt DIR --prompt "ROMEO:" --length N --temperature T --top-k K --seed S
 * Incremental decoding with one key/value cache per layer: a new character costs one position of
 * every layer (O(context)), not a forward pass over the whole context. When the context is full,
 * the cache is rebuilt from the last half of it. */
#include "generate.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "blocks.h"
#include "cfg.h"
#include "ckpt.h"
#include "model.h"

struct gen_opts {
  const char *ckpt, *prompt, *data;
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
  *o = (struct gen_opts){.prompt = "\n", .length = 500, .temperature = 1.0, .seed = 1, .threads = 1, .device = "cpu"};
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
    else if (!strcmp(f, "--length")) { st = parse_num(f, v, 0, 1e9, &x); o->length = (int64_t)x; }
    else if (!strcmp(f, "--top-k")) { st = parse_num(f, v, 0, 1e9, &x); o->top_k = (int64_t)x; }
    else if (!strcmp(f, "--threads")) { st = parse_num(f, v, 1, 4096, &x); o->threads = (int64_t)x; }
    else if (!strcmp(f, "--temperature")) st = parse_num(f, v, 0, 100, &o->temperature);
    else if (!strcmp(f, "--seed")) { st = parse_num(f, v, 0, 9e18, &x); o->seed = (uint64_t)x; }
    else return nn_fail(NN_ERR_ARG, "unknown option '%s' for generate (see generate --help)", f);
    NN_TRY(st);
  }
  if (!*help && !o->ckpt) return nn_fail(NN_ERR_ARG, "generate needs --ckpt DIR (a checkpoint directory or its root)");
  return NN_OK;
}

/* Map the UTF-8 prompt to vocabulary ids (longest match); error names the first unknown character. */
static nn_status encode(const struct ds_meta *m, const char *text, int32_t *ids, int64_t *n, const char *data) {
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
      return nn_fail(NN_ERR_ARG, "option --prompt: character '%.*s' (byte %ld) is not in the vocabulary of %s", clen, p,
                     (long)(p - text), data);
    }
    ids[(*n)++] = best;
    p += blen;
  }
  if (*n == 0) return nn_fail(NN_ERR_ARG, "option --prompt: empty prompt");
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
  const struct model_def *def;
  void *model;
  struct nn_params P;
  struct nn_backend *be;
  struct nn_graph g;
  struct blk_kv_cache *caches;
  int64_t layers, dim, context, V;
  float *logits;
};

/* Run the new tokens ids[0..n) through the model, extending the caches; logits of the last one. */
static nn_status feed(struct generator *G, const int32_t *ids, int64_t n) {
  nn_graph_reset(&G->g);
  struct nn_tensor *idx = model_index(&G->g, ids, 2, NN_SHAPE(1, n)), *logits = NULL;
  if (!idx) return G->g.status;
  NN_TRY(G->def->decode(G->model, &G->g, &G->P, idx, G->caches, &logits));
  nn_be_to_host(G->g.be, G->logits, logits->data + (n - 1) * G->V, sizeof(float) * (size_t)G->V);
  return NN_OK;
}

static nn_status run(struct generator *G, const struct gen_opts *o, struct comm *c) {
  struct ckpt_state s;
  char path[1024];
  NN_TRY(ckpt_resolve(c, o->ckpt, 0, path, sizeof path));
  NN_TRY(ckpt_read_state(path, &s));
  struct cfg cfg;
  cfg_defaults(&cfg);
  NN_TRY(cfg_load_json(&cfg, s.config_json, o->ckpt));
  G->def = model_find(cfg.model);
  if (!G->def || !G->def->decode) return nn_fail(NN_ERR_ARG, "checkpoint %s holds model '%s', which does not generate text", o->ckpt, cfg.model);
  const char *data = o->data ? o->data : cfg.data;
  struct ds_reader *r = NULL;
  nn_status st = ds_open(&r, data, "train");
  if (st != NN_OK)
    return nn_fail(st, "generate needs the vocabulary of the training data (%s); give --data DIR", nn_errmsg());
  const struct ds_meta *m = ds_get_meta(r);
  nn_params_init(&G->P);
  st = nn_backend_open(o->device, &(struct nn_backend_opts){.threads = (int)o->threads, .local_rank = c->local_rank}, &G->be);
  if (st != NN_OK) {
    ds_close(r);
    return st;
  }
  st = G->def->build(&G->model, &cfg, m, &G->P);
  if (st == NN_OK) st = nn_params_alloc(&G->P, G->be);
  if (st == NN_OK) {
    snprintf(s.model, sizeof s.model, "%s", cfg.model);
    st = ckpt_load(c, path, &s, &G->P, NULL);
  }
  int32_t *ids = malloc(sizeof(int32_t) * (strlen(o->prompt) + 1));
  int64_t n = 0;
  if (st == NN_OK) st = ids ? encode(m, o->prompt, ids, &n, data) : nn_fail(NN_ERR_OOM, "out of memory");
  if (st != NN_OK) {
    free(ids);
    ds_close(r);
    return st;
  }
  G->def->shape(G->model, &G->layers, &G->dim, &G->context);
  G->V = m->vocab_size;
  G->caches = calloc((size_t)G->layers, sizeof *G->caches);
  G->logits = malloc(sizeof(float) * (size_t)G->V);
  double *probs = malloc(sizeof(double) * (size_t)G->V);
  int32_t *window = malloc(sizeof(int32_t) * (size_t)G->context);
  if (!G->caches || !G->logits || !probs || !window) st = nn_fail(NN_ERR_OOM, "out of memory");
  for (int64_t l = 0; st == NN_OK && l < G->layers; l++) st = blk_kv_cache_init(&G->caches[l], G->be, G->context, G->dim);
  nn_graph_init(&G->g, G->be, 0);
  G->g.training = 0;
  G->g.grad_enabled = 0;
  /* the prompt (its last `context` characters) fills the caches in one pass */
  int64_t keep = n < G->context ? n : G->context, wlen = keep;
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
    if (wlen == G->context) { /* full: rebuild the caches from the last half of the context */
      int64_t half = G->context / 2;
      memmove(window, window + wlen - half, sizeof(int32_t) * (size_t)half);
      wlen = half;
      for (int64_t l = 0; l < G->layers; l++) G->caches[l].len = 0;
      window[wlen++] = next;
      st = feed(G, window, wlen);
    } else {
      window[wlen++] = next;
      st = feed(G, &next, 1);
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  if (st == NN_OK) fprintf(stderr, "\ngenerate: %lld characters in %.2f s (%.0f characters/s)\n", (long long)o->length, secs,
                           secs > 0 ? (double)o->length / secs : 0.0);
  for (int64_t l = 0; G->caches && l < G->layers; l++) blk_kv_cache_free(&G->caches[l], G->be);
  free(G->caches);
  free(G->logits);
  free(probs);
  free(window);
  free(ids);
  nn_graph_destroy(&G->g);
  G->def->destroy(G->model);
  nn_params_free(&G->P);
  nn_backend_close(G->be);
  ds_close(r);
  return st;
}

nn_status generate_main(struct comm *c, int argc, char **argv, int first) {
  struct gen_opts o;
  int help = 0;
  NN_TRY(parse_gen(&o, argc, argv, first, &help));
  if (help) {
    printf("usage: attn_train generate --ckpt DIR [--prompt TEXT] [--length N] [--temperature T] [--top-k K] [--seed S]\n"
           "                           [--data DIR] [--threads N] [--device cpu|cuda[:N]]\n"
           "  --ckpt DIR        a checkpoint (step_NNNNNNNN/) or a checkpoint directory (its latest)\n"
           "  --prompt TEXT     text to continue; every character must be in the vocabulary [\\n]\n"
           "  --length N        characters to sample [500]\n"
           "  --temperature T   softmax temperature; 0 = greedy [1]\n"
           "  --top-k K         sample among the K most likely characters; 0 = all [0]\n"
           "  --seed S          the same seed gives the same text [1]\n"
           "  --data DIR        dataset with the vocabulary [the training data of the checkpoint]\n"
           "  --device D        cpu, cuda or cuda:N [cpu]\n");
    return NN_OK;
  }
  struct generator G;
  memset(&G, 0, sizeof G);
  return run(&G, &o, c);
}
