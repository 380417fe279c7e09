/* ds_verify: read every example of an open split, so that bad values and unreadable chunks show up. */
#include <stdlib.h>
#include "ds_internal.h"
#include "ds_write.h"

nn_status ds_verify_split(struct ds_reader *r, ds_progress_fn progress, void *ctx) {
  const struct ds_meta *m = ds_get_meta(r);
  const int64_t chunk = m->kind == DS_TEXT ? 1 << 20 : 4096;
  int64_t per = m->kind == DS_IMAGE      ? m->c * m->h * m->w
                : m->kind == DS_FEATURES ? 4 * m->feature_dim
                : m->kind == DS_PAIRS    ? 2 * m->max_len * 4
                                         : 4;
  int64_t *idx = malloc(sizeof(int64_t) * (size_t)chunk);
  void *buf = malloc((size_t)(chunk * per));
  int32_t *lab = malloc(sizeof(int32_t) * (size_t)chunk);
  struct ds_write_opts o = {.progress = progress, .ctx = ctx};
  nn_status s = idx && buf && lab ? NN_OK : nn_fail(NN_ERR_OOM, "%s: out of memory to verify", m->id);
  for (int64_t a = 0; s == NN_OK && a < m->count; a += chunk) {
    int64_t n = m->count - a < chunk ? m->count - a : chunk;
    char what[64];
    snprintf(what, sizeof what, "verifying split %s", m->split);
    s = ds_progress(&o, what, a, m->count);
    for (int64_t i = 0; i < n; i++) idx[i] = a + i;
    if (s != NN_OK) break;
    if (m->kind == DS_IMAGE) s = ds_read_images(r, idx, n, buf, lab);
    else if (m->kind == DS_FEATURES) s = ds_read_features(r, idx, n, buf, lab);
    else if (m->kind == DS_TEXT) s = ds_read_tokens(r, a, n, buf);
    else s = ds_read_pairs(r, idx, n, buf, (int32_t *)buf + n * m->max_len, m->max_len);
  }
  free(idx);
  free(buf);
  free(lab);
  return s;
}
