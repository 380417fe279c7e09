/* ds_conv_pairs: tab-separated sentence pairs to word-level source/target streams with offsets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ds_convert.h"

enum { DS_PAD, DS_SOS, DS_EOS, DS_UNK, DS_NSPECIAL };
static const char *const ds_special[DS_NSPECIAL] = {"<pad>", "<sos>", "<eos>", "<unk>"};

/* Base letter of U+00C0..U+017F under NFD with the combining marks removed; '_' when it has none. */
static const char ds_latin[] =
    "AAAAAA_CEEEEIIII" "_NOOOOO__UUUUY__" "aaaaaa_ceeeeiiii" "_nooooo__uuuuy_y"
    "AaAaAaCcCcCcCcDd" "__EeEeEeEeEeGgGg" "GgGgHh__IiIiIiIi" "I___JjKk_LlLlLl_"
    "___NnNnNn___OoOo" "Oo__RrRrRrSsSsSs" "SsTtTt__UuUuUuUu" "UuUuWwYyYZzZzZz_";

int ds_normalize_sentence(char *out, const char *in, size_t len) {
  size_t o = 0;
  int words = 0, sep = 0;
  for (size_t i = 0; i < len;) {
    int32_t cp;
    int k = ds_utf8_decode((const uint8_t *)in + i, len - i, &cp);
    if (!k) return -1;
    i += (size_t)k;
    if (cp >= 0x300 && cp < 0x370) continue; /* combining mark: dropped */
    char c = cp < 0x80 ? (char)cp : (cp >= 0xc0 && cp < 0x180) ? ds_latin[cp - 0xc0] : '_';
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    int letter = c >= 'a' && c <= 'z', punct = c == '.' || c == '!' || c == '?';
    if (!letter && !punct) {
      sep = 1;
      continue;
    }
    if (o && (sep || punct)) out[o++] = ' ';
    if (!o || sep || punct) words++;
    out[o++] = c;
    sep = punct; /* a word after . ! ? starts afresh */
  }
  out[o] = 0;
  return words;
}

/* ---------------- vocabulary: open-addressing hash of word -> id ---------------- */

struct ds_vocab { char **word; int n, cap; int *slot; int nslot; };

static uint64_t ds_hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
  return h;
}

/* Id of word w, or -1. */
static int ds_vocab_find(const struct ds_vocab *v, const char *w) {
  if (!v->nslot) return -1;
  for (uint64_t i = ds_hash(w) & (uint64_t)(v->nslot - 1);; i = (i + 1) & (uint64_t)(v->nslot - 1)) {
    int id = v->slot[i];
    if (id < 0 || !strcmp(v->word[id], w)) return id;
  }
}

/* Add word w (a copy) unless present. */
static nn_status ds_vocab_add(struct ds_vocab *v, const char *w) {
  if (ds_vocab_find(v, w) >= 0) return NN_OK;
  if (v->n == v->cap) {
    char **p = realloc(v->word, sizeof(char *) * (size_t)(v->cap = v->cap ? 2 * v->cap : 64));
    if (!p) return nn_fail(NN_ERR_OOM, "out of memory for the vocabulary");
    v->word = p;
  }
  if (!(v->word[v->n] = strdup(w))) return nn_fail(NN_ERR_OOM, "out of memory for the vocabulary");
  v->n++;
  if (2 * v->n > v->nslot) { /* rehash into twice the slots */
    int ns = v->nslot ? 2 * v->nslot : 256, *s = malloc(sizeof(int) * (size_t)ns);
    if (!s) return nn_fail(NN_ERR_OOM, "out of memory for the vocabulary");
    for (int i = 0; i < ns; i++) s[i] = -1;
    free(v->slot);
    v->slot = s, v->nslot = ns;
    for (int id = 0; id < v->n; id++) {
      uint64_t i = ds_hash(v->word[id]) & (uint64_t)(ns - 1);
      while (s[i] >= 0) i = (i + 1) & (uint64_t)(ns - 1);
      s[i] = id;
    }
  } else {
    uint64_t i = ds_hash(w) & (uint64_t)(v->nslot - 1);
    while (v->slot[i] >= 0) i = (i + 1) & (uint64_t)(v->nslot - 1);
    v->slot[i] = v->n - 1;
  }
  return NN_OK;
}

static void ds_vocab_free(struct ds_vocab *v) {
  for (int i = 0; i < v->n; i++) free(v->word[i]);
  free(v->word);
  free(v->slot);
  *v = (struct ds_vocab){0};
}

/* ---------------- input ---------------- */

/* Kept pairs: normalised sentences, NUL-separated src then tgt, in file order. */
struct ds_pairs { char **src, **tgt; int64_t n, cap; };

static nn_status ds_pairs_push(struct ds_pairs *p, const char *s, const char *t) {
  if (p->n == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 1024;
    char **a = realloc(p->src, sizeof(char *) * (size_t)p->cap);
    if (a) p->src = a;
    char **b = a ? realloc(p->tgt, sizeof(char *) * (size_t)p->cap) : NULL;
    if (b) p->tgt = b;
    if (!a || !b) return nn_fail(NN_ERR_OOM, "out of memory holding %lld pairs", (long long)p->n);
  }
  p->src[p->n] = strdup(s);
  p->tgt[p->n] = strdup(t);
  if (!p->src[p->n] || !p->tgt[p->n]) return nn_fail(NN_ERR_OOM, "out of memory");
  p->n++;
  return NN_OK;
}

static void ds_pairs_free(struct ds_pairs *p) {
  for (int64_t i = 0; i < p->n; i++) free(p->src[i]), free(p->tgt[i]);
  free(p->src);
  free(p->tgt);
}

/* Prefixes file: one lower-cased prefix per line (trailing spaces kept, empty lines skipped). */
static nn_status ds_load_prefixes(const char *path, char ***out, int *n) {
  uint8_t *b;
  size_t len;
  *out = NULL;
  *n = 0;
  NN_TRY(ds_load_file(path, &b, &len));
  char **v = calloc(len / 2 + 1, sizeof(char *));
  nn_status s = v ? NN_OK : nn_fail(NN_ERR_OOM, "out of memory");
  for (size_t i = 0; s == NN_OK && i < len;) {
    size_t e = i;
    while (e < len && b[e] != '\n') e++;
    size_t l = e - i;
    if (l && b[i + l - 1] == '\r') l--;
    if (l) {
      char *p = malloc(l + 1);
      if (!p) s = nn_fail(NN_ERR_OOM, "out of memory");
      for (size_t k = 0; p && k < l; k++) p[k] = (char)(b[i + k] >= 'A' && b[i + k] <= 'Z' ? b[i + k] - 'A' + 'a' : b[i + k]);
      if (p) p[l] = 0, v[(*n)++] = p;
    }
    i = e + 1;
  }
  free(b);
  if (s == NN_OK && *n == 0) s = nn_fail(NN_ERR_FORMAT, "%s: no prefixes in the file", path);
  *out = v;
  return s;
}

/* Read, normalise and filter the pairs of one TSV file. */
static nn_status ds_tsv_file(const char *path, const struct ds_convert_opts *o, char **pre, int npre, struct ds_pairs *p, int64_t *lines) {
  uint8_t *b;
  size_t len;
  NN_TRY(ds_load_file(path, &b, &len));
  nn_status s = NN_OK;
  char *ns = malloc(2 * len + 2), *nt = malloc(2 * len + 2);
  if (!ns || !nt) s = nn_fail(NN_ERR_OOM, "out of memory");
  int64_t line = 0, max_len = o->max_len < 0 ? 10 : o->max_len;
  for (size_t i = 0; s == NN_OK && i < len; i++) {
    size_t e = i;
    while (e < len && b[e] != '\n') e++;
    size_t l = e - i;
    const char *row = (const char *)b + i;
    line++;
    if (l && row[l - 1] == '\r') l--;
    if (l == 0) {
      i = e;
      continue;
    }
    const char *tab = memchr(row, '\t', l);
    if (!tab) {
      s = nn_fail(NN_ERR_FORMAT, "%s:%lld: expected at least 2 tab-separated columns (source, target)", path, (long long)line);
      break;
    }
    const char *tgt = tab + 1, *tab2 = memchr(tgt, '\t', l - (size_t)(tgt - row));
    size_t tl = tab2 ? (size_t)(tab2 - tgt) : l - (size_t)(tgt - row);
    int ws = ds_normalize_sentence(ns, row, (size_t)(tab - row)), wt = ds_normalize_sentence(nt, tgt, tl);
    if (ws < 0 || wt < 0) {
      s = nn_fail(NN_ERR_FORMAT, "%s:%lld: not valid UTF-8", path, (long long)line);
      break;
    }
    int keep = ws > 0 && wt > 0 && (max_len == 0 || (ws < max_len && wt < max_len));
    if (keep && npre) {
      keep = 0;
      for (int k = 0; k < npre && !keep; k++) keep = !strncmp(ns, pre[k], strlen(pre[k]));
    }
    if (keep) s = ds_pairs_push(p, ns, nt);
    i = e;
  }
  *lines += line;
  free(ns);
  free(nt);
  free(b);
  return s;
}

/* ---------------- encoding ---------------- */

/* Vocabulary with the special tokens first, then the words of the given sentences in order of appearance. */
static nn_status ds_build_vocab(struct ds_vocab *v, char **sent, const unsigned char *is_val, int64_t n) {
  for (int k = 0; k < DS_NSPECIAL; k++) NN_TRY(ds_vocab_add(v, ds_special[k]));
  char *buf = NULL;
  size_t cap = 0;
  for (int64_t i = 0; i < n; i++) {
    if (is_val[i]) continue;
    size_t l = strlen(sent[i]);
    if (l + 1 > cap) {
      char *p = realloc(buf, cap = l + 1);
      if (!p) {
        free(buf);
        return nn_fail(NN_ERR_OOM, "out of memory");
      }
      buf = p;
    }
    memcpy(buf, sent[i], l + 1);
    char *save = NULL;
    for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
      nn_status s = ds_vocab_add(v, w);
      if (s != NN_OK) {
        free(buf);
        return s;
      }
    }
  }
  free(buf);
  return NN_OK;
}

/* One side of one split: word ids + EOS per sentence, and offsets. */
struct ds_side { int32_t *tok; int64_t *off, ntok, n; };

static nn_status ds_encode(struct ds_side *d, const struct ds_vocab *v, char **sent, const unsigned char *is_val, int want_val, int64_t n, int64_t *max_len) {
  int64_t total = 0, cnt = 0;
  for (int64_t i = 0; i < n; i++)
    if (is_val[i] == want_val) total += (int64_t)strlen(sent[i]) + 2, cnt++;
  d->tok = malloc(sizeof(int32_t) * (size_t)(total + 1));
  d->off = malloc(sizeof(int64_t) * (size_t)(cnt + 1));
  if (!d->tok || !d->off) return nn_fail(NN_ERR_OOM, "out of memory");
  d->off[0] = 0;
  char w[4096];
  for (int64_t i = 0; i < n; i++) {
    if (is_val[i] != want_val) continue;
    int64_t start = d->ntok;
    for (const char *s = sent[i]; *s;) {
      size_t l = strcspn(s, " ");
      snprintf(w, sizeof w, "%.*s", (int)(l < sizeof w ? l : sizeof w - 1), s);
      int id = ds_vocab_find(v, w);
      d->tok[d->ntok++] = id < 0 ? DS_UNK : id;
      s += l + (s[l] == ' ');
    }
    d->tok[d->ntok++] = DS_EOS;
    if (d->ntok - start > *max_len) *max_len = d->ntok - start;
    d->off[++d->n] = d->ntok;
  }
  return NN_OK;
}

nn_status ds_convert_pairs(const char *const *inputs, int n, const struct ds_convert_opts *o) {
  NN_TRY(ds_write_check_out(o->out, o->w.force));
  if (n < 1) return nn_fail(NN_ERR_ARG, "convert pairs: no input file");
  struct ds_pairs p = {0};
  struct ds_vocab vs = {0}, vt = {0};
  struct ds_side side[2][2] = {{{0}}}; /* [train/val][src/tgt] */
  char **pre = NULL;
  int npre = 0;
  unsigned char *is_val = NULL;
  int64_t lines = 0, nval = 0, max_len = 0;
  nn_status s = o->prefixes ? ds_load_prefixes(o->prefixes, &pre, &npre) : NN_OK;
  for (int i = 0; i < n && s == NN_OK; i++) {
    char what[DS_PATH_MAX];
    snprintf(what, sizeof what, "reading %.4000s", inputs[i]);
    s = ds_progress(&o->w, what, i, n);
    if (s == NN_OK) s = ds_tsv_file(inputs[i], o, pre, npre, &p, &lines);
  }
  if (s == NN_OK && p.n == 0)
    s = nn_fail(NN_ERR_FORMAT, "%s: no sentence pairs left of %lld lines after filtering (max length %lld words%s)",
                inputs[0], (long long)lines, (long long)(o->max_len < 0 ? 10 : o->max_len), npre ? ", prefixes" : "");
  if (s == NN_OK && !(is_val = calloc((size_t)p.n, 1))) s = nn_fail(NN_ERR_OOM, "out of memory");
  double f = o->val_fraction < 0 ? 0.1 : o->val_fraction;
  if (s == NN_OK && f > 0) s = ds_pick_val(p.n, f, o->seed, is_val, &nval);
  if (s == NN_OK && (nval == p.n || (f > 0 && nval == 0)))
    s = nn_fail(NN_ERR_ARG, "--val-fraction %g leaves an empty %s split of the %lld pairs", f, nval ? "train" : "val", (long long)p.n);
  if (s == NN_OK) s = ds_build_vocab(&vs, p.src, is_val, p.n);
  if (s == NN_OK) s = ds_build_vocab(&vt, p.tgt, is_val, p.n);
  for (int sp = 0; sp < (nval ? 2 : 1) && s == NN_OK; sp++) {
    s = ds_encode(&side[sp][0], &vs, p.src, is_val, sp, p.n, &max_len);
    if (s == NN_OK) s = ds_encode(&side[sp][1], &vt, p.tgt, is_val, sp, p.n, &max_len);
  }
  if (s == NN_OK) {
    struct ds_spec spec = {.source = inputs[0]};
    struct ds_meta *m = &spec.meta;
    m->kind = DS_PAIRS;
    m->src_vocab = vs.word, m->src_vocab_size = vs.n;
    m->tgt_vocab = vt.word, m->tgt_vocab_size = vt.n;
    m->pad_id = DS_PAD, m->sos_id = DS_SOS, m->eos_id = DS_EOS, m->unk_id = DS_UNK, m->max_len = max_len;
    const char *names[2] = {"train", "val"};
    for (int sp = 0; sp < (nval ? 2 : 1); sp++)
      spec.split[spec.nsplits++] = (struct ds_split_data){.name = names[sp], .count = side[sp][0].n,
          .src = side[sp][0].tok, .src_off = side[sp][0].off, .tgt = side[sp][1].tok, .tgt_off = side[sp][1].off};
    s = ds_write_dataset(o->out, &spec, &o->w);
  }
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++) free(side[a][b].tok), free(side[a][b].off);
  for (int k = 0; k < npre; k++) free(pre[k]);
  free(pre);
  free(is_val);
  ds_vocab_free(&vs);
  ds_vocab_free(&vt);
  ds_pairs_free(&p);
  return s;
}
