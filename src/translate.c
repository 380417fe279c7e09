/* attn_train translate --ckpt D (--text "they are teachers ." | --input FILE) [--beam K]
 * Sentences are normalised as `attn_data convert pairs` does (lower case, accents folded, . ! ?
 * split off), split into words, unknown words map to <unk> (a note on stderr), EOS appended; the
 * translation is decoded through the model's decoding state: greedy (task_s2s_greedy) or a beam of
 * K hypotheses (length-normalised log probability). One translation per line on stdout. */
#include "translate.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ds_convert.h"
#include "generate.h"
#include "model.h"

struct tr_opts {
  const char *ckpt, *text, *input, *device;
  int64_t beam, threads;
};

static nn_status parse_tr(struct tr_opts *o, int argc, char **argv, int first, int *help) {
  *o = (struct tr_opts){.beam = 1, .threads = 1, .device = "cpu"};
  for (int a = first; a < argc; a++) {
    const char *f = argv[a];
    if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
      *help = 1;
      continue;
    }
    if (a + 1 >= argc) return nn_fail(NN_ERR_ARG, "option '%s' needs a value (see translate --help)", f);
    const char *v = argv[++a];
    if (!strcmp(f, "--ckpt")) o->ckpt = v;
    else if (!strcmp(f, "--text")) o->text = v;
    else if (!strcmp(f, "--input")) o->input = v;
    else if (!strcmp(f, "--device")) o->device = v;
    else if (!strcmp(f, "--beam") || !strcmp(f, "--threads")) {
      char *end;
      errno = 0;
      long x = strtol(v, &end, 10);
      if (!*v || *end || errno || x < 1 || x > 1024)
        return nn_fail(NN_ERR_ARG, "option %s: bad value '%s' (expected a whole number in 1..1024)", f, v);
      if (f[2] == 'b') o->beam = x;
      else o->threads = x;
    } else return nn_fail(NN_ERR_ARG, "unknown option '%s' for translate (see translate --help)", f);
  }
  if (*help) return NN_OK;
  if (!o->ckpt) return nn_fail(NN_ERR_ARG, "translate needs --ckpt DIR (a checkpoint directory or its root, or an export .h5)");
  if (!o->text == !o->input) return nn_fail(NN_ERR_ARG, "translate needs exactly one of --text SENTENCE and --input FILE");
  return NN_OK;
}

void translate_setup(struct translator *T, const struct task_model *tm) {
  const struct ds_meta *m = tm->meta;
  int rev = ((const struct task_s2s_model *)tm->self)->reverse;
  *T = (struct translator){.tm = *tm, .L = m->max_len};
  T->src_vocab = (const char *const *)(rev ? m->tgt_vocab : m->src_vocab);
  T->tgt_vocab = (const char *const *)(rev ? m->src_vocab : m->tgt_vocab);
  T->nsrc = rev ? m->tgt_vocab_size : m->src_vocab_size;
  T->ntgt = rev ? m->src_vocab_size : m->tgt_vocab_size;
  int64_t ctx = 0;
  tm->def->dec_info(tm->self, &ctx, &T->V);
}

nn_status translate_encode(const struct translator *T, const char *text, int64_t line, int32_t *ids, int64_t *n) {
  const struct ds_meta *m = T->tm.meta;
  char where[64] = "--text";
  if (line > 0) snprintf(where, sizeof where, "line %lld", (long long)line);
  size_t len = strlen(text);
  char *norm = malloc(2 * len + 2);
  if (!norm) return nn_fail(NN_ERR_OOM, "out of memory");
  int words = ds_normalize_sentence(norm, text, len);
  if (words < 0) {
    free(norm);
    return nn_fail(NN_ERR_ARG, "%s: not valid UTF-8", where);
  }
  if (words == 0) {
    free(norm);
    return nn_fail(NN_ERR_ARG, "%s: empty sentence (no words to translate)", where);
  }
  if (words + 1 > T->L || words + 1 > 64) {
    free(norm);
    return nn_fail(NN_ERR_ARG, "%s: %d words, longer than the model's maximum of %lld words (trained with --max-len %lld)",
                   where, words, (long long)(T->L - 1), (long long)T->L);
  }
  *n = 0;
  for (char *w = strtok(norm, " "); w; w = strtok(NULL, " ")) {
    int id = -1;
    for (int64_t i = 0; i < T->nsrc && id < 0; i++)
      if (T->src_vocab[i] && !strcmp(T->src_vocab[i], w)) id = (int)i;
    if (id < 0) {
      fprintf(stderr, "translate: note: %s: unknown word '%s' -> %s\n", where, w, T->src_vocab[m->unk_id]);
      id = m->unk_id;
    }
    ids[(*n)++] = id;
  }
  ids[(*n)++] = m->eos_id;
  free(norm);
  return NN_OK;
}

/* beam search: out[0..return) the best hypothesis (EOS not written); -1 on error */
struct hyp {
  int32_t tok[64];
  int64_t len;
  double score;
};

static int64_t beam_search(const struct translator *T, const int32_t *src, int64_t ns, int64_t K, int32_t *out) {
  const struct task_model *m = &T->tm;
  struct nn_graph *g = m->g;
  int64_t L = translate_max_len(T), V = T->V;
  void *state = NULL;
  nn_graph_reset(g);
  if (m->def->dec_open(m->self, g, m->P, src, ns, &state) != NN_OK) return -1;
  struct hyp *beams = calloc((size_t)K, sizeof *beams), *cand = calloc((size_t)(K * K), sizeof *cand);
  struct hyp best = {.score = -INFINITY};
  double best_norm = -INFINITY;
  float *row = malloc(sizeof(float) * (size_t)V);
  int32_t *prefix = malloc(sizeof(int32_t) * (size_t)(L + 1));
  nn_status st = beams && cand && row && prefix ? NN_OK : nn_fail(NN_ERR_OOM, "out of memory for the beam");
  int64_t nb = 1, finished = 0;
  for (int64_t t = 0; st == NN_OK && t < L && nb > 0 && finished < K; t++) {
    int64_t nc = 0;
    for (int64_t b = 0; b < nb && st == NN_OK; b++) {
      prefix[0] = m->meta->sos_id;
      memcpy(prefix + 1, beams[b].tok, sizeof(int32_t) * (size_t)beams[b].len);
      m->def->dec_reset(m->self, state);
      nn_graph_reset(g);
      struct nn_tensor *logits = NULL;
      st = m->def->dec_step(m->self, state, g, m->P, prefix, beams[b].len + 1, &logits);
      if (st != NN_OK) break;
      nn_be_to_host(g->be, row, logits->data + beams[b].len * V, sizeof(float) * (size_t)V);
      double mx = row[0], z = 0;
      for (int64_t v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
      for (int64_t v = 0; v < V; v++) z += exp(row[v] - mx);
      double lse = mx + log(z);
      for (int64_t k = 0; k < K; k++) { /* the K best next tokens of this beam (ties: lower id) */
        int64_t a = -1;
        for (int64_t v = 0; v < V; v++)
          if (row[v] != -INFINITY && (a < 0 || row[v] > row[a])) a = v;
        if (a < 0) break;
        struct hyp h = beams[b];
        h.score += row[a] - lse;
        h.tok[h.len++] = (int32_t)a;
        cand[nc++] = h;
        row[a] = -INFINITY;
      }
    }
    /* keep the K best candidates; those ending in EOS are finished */
    int64_t nnew = 0;
    for (int64_t k = 0; k < K && st == NN_OK; k++) {
      int64_t a = -1;
      for (int64_t c = 0; c < nc; c++)
        if (cand[c].score != -INFINITY && (a < 0 || cand[c].score > cand[a].score)) a = c;
      if (a < 0) break;
      struct hyp h = cand[a];
      cand[a].score = -INFINITY;
      if (h.tok[h.len - 1] == m->meta->eos_id || h.len >= L) {
        double norm = h.score / (double)h.len; /* length-normalised (EOS counted) */
        if (norm > best_norm) best_norm = norm, best = h;
        finished++;
      } else {
        beams[nnew++] = h;
      }
    }
    nb = nnew;
  }
  int64_t n = -1;
  if (st == NN_OK) {
    if (best_norm == -INFINITY && nb > 0) best = beams[0];
    n = best.len;
    if (n > 0 && best.tok[n - 1] == m->meta->eos_id) n--;
    memcpy(out, best.tok, sizeof(int32_t) * (size_t)n);
  }
  free(beams);
  free(cand);
  free(row);
  free(prefix);
  m->def->dec_free(m->self, state);
  return n;
}

int64_t translate_ids(const struct translator *T, const int32_t *src, int64_t ns, int64_t beam, int32_t *out) {
  return beam > 1 ? beam_search(T, src, ns, beam, out) : task_s2s_greedy(&T->tm, src, ns, translate_max_len(T), out);
}

/* translate one sentence and print it (or its error) */
static nn_status translate_one(const struct translator *T, const char *text, int64_t line, int64_t beam) {
  int32_t ids[64], out[64];
  int64_t n = 0;
  NN_TRY(translate_encode(T, text, line, ids, &n));
  int64_t k = translate_ids(T, ids, n, beam, out);
  if (k < 0) return NN_ERR_ARG;
  for (int64_t i = 0; i < k; i++) printf("%s%s", i ? " " : "", T->tgt_vocab[out[i]]);
  printf("\n");
  fflush(stdout);
  return NN_OK;
}

nn_status translate_main(struct comm *c, int argc, char **argv, int first) {
  struct tr_opts o;
  int help = 0;
  NN_TRY(parse_tr(&o, argc, argv, first, &help));
  if (help) {
    printf("usage: attn_train translate --ckpt DIR|FILE.h5 (--text SENTENCE | --input FILE) [--beam K]\n"
           "                            [--threads N] [--device cpu|cuda[:N]]\n"
           "  --ckpt DIR      a seq2seq checkpoint (step_NNNNNNNN/), a checkpoint directory (its latest), or an\n"
           "                  export (attn_train export / --save-params): the vocabularies come with it\n"
           "  --text S        one sentence in the model's source language\n"
           "  --input FILE    one sentence per line; a bad line prints its message and an empty line\n"
           "  --beam K        beam search over K hypotheses (length-normalised); 1 = greedy [1]\n"
           "Unknown words become <unk> (a note on stderr); a sentence must have fewer words than the\n"
           "model's maximum (the dataset's --max-len).\n");
    return NN_OK;
  }
  struct gen_model M;
  nn_status st = gen_model_open_task(&M, c, o.ckpt, NULL, o.device, (int)o.threads, &task_seq2seq,
                                     "does not translate (a --model seq2seq checkpoint is needed)");
  if (st == NN_OK && M.meta->kind != DS_PAIRS)
    st = nn_fail(NN_ERR_FORMAT, "%s has no vocabularies of sentence pairs (data.* attributes)", o.ckpt);
  struct nn_graph g;
  memset(&g, 0, sizeof g);
  if (M.be) nn_graph_init(&g, M.be, 0);
  g.training = 0;
  g.grad_enabled = 0;
  struct translator T = {0};
  if (st == NN_OK) translate_setup(&T, &(struct task_model){.def = M.def, .self = M.model, .P = &M.P, .g = &g, .meta = M.meta});
  if (st == NN_OK && o.text) st = translate_one(&T, o.text, 0, o.beam);
  if (st == NN_OK && o.input) {
    FILE *f = fopen(o.input, "r");
    if (!f) st = nn_fail(NN_ERR_IO, "--input %s: cannot open (%s)", o.input, strerror(errno));
    char buf[4096];
    int bad = 0;
    for (int64_t line = 1; f && fgets(buf, sizeof buf, f); line++) {
      buf[strcspn(buf, "\r\n")] = 0;
      if (translate_one(&T, buf, line, o.beam) != NN_OK) {
        fprintf(stderr, "translate: %s: %s\n", o.input, nn_errmsg());
        printf("\n");
        bad++;
      }
    }
    if (f) fclose(f);
    if (st == NN_OK && bad) st = nn_fail(NN_ERR_ARG, "--input %s: %d line(s) not translated (messages above)", o.input, bad);
  }
  if (M.be) nn_graph_destroy(&g);
  gen_model_close(&M);
  return st;
}
