/* ds_conv_text: UTF-8 text to a character-level token stream, with the tail held out for validation. */
#include <stdlib.h>
#include <string.h>
#include "ds_convert.h"

/* UTF-8 bytes of code point v into out (NUL-terminated); length. */
static int ds_utf8_encode(int32_t v, char out[5]) {
  int n = v < 0x80 ? 1 : v < 0x800 ? 2 : v < 0x10000 ? 3 : 4;
  if (n == 1) out[0] = (char)v;
  else {
    for (int i = n - 1; i > 0; i--, v >>= 6) out[i] = (char)(0x80 | (v & 0x3f));
    out[0] = (char)((0xf00 >> n) | v);
  }
  out[n] = 0;
  return n;
}

/* Append the code points of UTF-8 file `path` to cps (grown as needed). */
static nn_status ds_text_file(const char *path, int32_t **cps, int64_t *n, int64_t *cap) {
  uint8_t *b;
  size_t len;
  NN_TRY(ds_load_file(path, &b, &len));
  nn_status s = NN_OK;
  if (*n + (int64_t)len > *cap) {
    int32_t *p = realloc(*cps, sizeof(int32_t) * (size_t)(*n + (int64_t)len + 1));
    if (!p) s = nn_fail(NN_ERR_OOM, "%s: out of memory", path);
    else *cps = p, *cap = *n + (int64_t)len + 1;
  }
  int64_t line = 1;
  for (size_t i = 0; s == NN_OK && i < len;) {
    int32_t cp;
    int k = ds_utf8_decode(b + i, len - i, &cp);
    if (!k) s = nn_fail(NN_ERR_FORMAT, "%s: not valid UTF-8 at byte %zu (line %lld)", path, i, (long long)line);
    else (*cps)[(*n)++] = cp, i += (size_t)k, line += cp == '\n';
  }
  free(b);
  return s;
}

/* vocab = the distinct code points in order; cps rewritten as token ids. */
static nn_status ds_text_vocab(int32_t *cps, int64_t n, struct ds_meta *m) {
  int32_t *id = malloc(sizeof(int32_t) * DS_NCP);
  if (!id) return nn_fail(NN_ERR_OOM, "out of memory");
  for (int32_t v = 0; v < DS_NCP; v++) id[v] = -1;
  for (int64_t i = 0; i < n; i++) id[cps[i]] = 0;
  int nv = 0;
  for (int32_t v = 0; v < DS_NCP; v++)
    if (id[v] == 0) id[v] = nv++ + 1; /* +1: 0 still means "seen" until all are numbered */
  m->vocab = calloc((size_t)nv, sizeof(char *));
  nn_status s = m->vocab ? NN_OK : nn_fail(NN_ERR_OOM, "out of memory");
  for (int32_t v = 0; s == NN_OK && v < DS_NCP; v++)
    if (id[v] > 0) {
      char u[5];
      ds_utf8_encode(v, u);
      if (!(m->vocab[id[v] - 1] = strdup(u))) s = nn_fail(NN_ERR_OOM, "out of memory");
      m->vocab_size = id[v];
    }
  for (int64_t i = 0; s == NN_OK && i < n; i++) cps[i] = id[cps[i]] - 1;
  free(id);
  return s;
}

nn_status ds_convert_text(const char *const *inputs, int n, const struct ds_convert_opts *o) {
  NN_TRY(ds_write_check_out(o->out, o->w.force));
  if (n < 1) return nn_fail(NN_ERR_ARG, "convert text: no input file");
  int32_t *tok = NULL;
  int64_t ntok = 0, cap = 0;
  struct ds_meta m = {.kind = DS_TEXT};
  nn_status s = NN_OK;
  for (int i = 0; i < n && s == NN_OK; i++) {
    char what[DS_PATH_MAX];
    snprintf(what, sizeof what, "reading %.4000s", inputs[i]);
    s = ds_progress(&o->w, what, i, n);
    if (s == NN_OK) s = ds_text_file(inputs[i], &tok, &ntok, &cap);
  }
  if (s == NN_OK && ntok < 2) s = nn_fail(NN_ERR_FORMAT, "%s: empty text (%lld characters)", inputs[0], (long long)ntok);
  if (s == NN_OK) s = ds_text_vocab(tok, ntok, &m);
  double f = o->val_fraction < 0 ? 0.1 : o->val_fraction;
  int64_t ntrain = (int64_t)((double)ntok * (1.0 - f));
  if (s == NN_OK && (ntrain < 2 || (ntrain < ntok && ntok - ntrain < 2)))
    s = nn_fail(NN_ERR_ARG, "--val-fraction %g: %s: %lld characters leave fewer than 2 for %s", f, inputs[0],
                (long long)ntok, ntrain < 2 ? "train" : "val");
  if (s == NN_OK) {
    struct ds_spec sp = {.meta = m, .source = inputs[0]};
    sp.split[sp.nsplits++] = (struct ds_split_data){.name = "train", .count = ntrain, .tokens = tok};
    if (ntrain < ntok) sp.split[sp.nsplits++] = (struct ds_split_data){.name = "val", .count = ntok - ntrain, .tokens = tok + ntrain};
    s = ds_write_dataset(o->out, &sp, &o->w);
  }
  free(tok);
  ds_meta_free(&m);
  return s;
}
