/* ds_input: whole-file input for the converters, gunzipped when it is gzip, with precise error messages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "ds_convert.h"

/* Decode one UTF-8 code point at s[0..n); bytes used, or 0 when invalid (overlong, surrogate, truncated). */
int ds_utf8_decode(const uint8_t *s, size_t n, int32_t *cp) {
  uint8_t c = s[0];
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (!len || (size_t)len > n) return 0;
  int32_t v = len == 1 ? c : c & (0x7f >> len);
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = v << 6 | (s[i] & 0x3f);
  }
  static const int32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < min[len] || v >= DS_NCP || (v >= 0xd800 && v < 0xe000)) return 0;
  *cp = v;
  return len;
}

/* out = the gunzipped contents of the gzip stream in[0..n) (several members allowed). */
static nn_status ds_gunzip(const char *path, const uint8_t *in, size_t n, uint8_t **out, size_t *outlen) {
  z_stream z = {0};
  size_t cap = n * 4 + 1024, len = 0;
  uint8_t *o = malloc(cap);
  if (!o || inflateInit2(&z, 15 + 16) != Z_OK) {
    free(o);
    return nn_fail(NN_ERR_OOM, "%s: out of memory to gunzip", path);
  }
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n; /* inputs here are far below 4 GiB; checked below */
  nn_status s = NN_OK;
  if (n > 0xffffffffu) s = nn_fail(NN_ERR_ARG, "%s: gzip input larger than 4 GiB", path);
  while (s == NN_OK) {
    if (len == cap) {
      uint8_t *p = realloc(o, cap *= 2);
      if (!p) {
        s = nn_fail(NN_ERR_OOM, "%s: out of memory to gunzip", path);
        break;
      }
      o = p;
    }
    z.next_out = o + len;
    z.avail_out = (uInt)(cap - len > 0x40000000u ? 0x40000000u : cap - len);
    uInt before = z.avail_out;
    int ret = inflate(&z, Z_NO_FLUSH);
    len += before - z.avail_out;
    if (ret == Z_STREAM_END) {
      if (z.avail_in >= 2 && z.next_in[0] == 0x1f && z.next_in[1] == 0x8b) { /* another member */
        inflateReset(&z);
        continue;
      }
      break;
    }
    if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT)
      s = nn_fail(NN_ERR_FORMAT, "%s: corrupt gzip data (%s) after %zu compressed bytes", path,
                  z.msg ? z.msg : "invalid stream", n - z.avail_in);
    else if (ret == Z_MEM_ERROR) s = nn_fail(NN_ERR_OOM, "%s: out of memory to gunzip", path);
    else if (z.avail_in == 0 && z.avail_out > 0)
      s = nn_fail(NN_ERR_FORMAT, "%s: truncated gzip file (the stream ends early, after %zu bytes of data)", path, len);
  }
  inflateEnd(&z);
  if (s != NN_OK) {
    free(o);
    return s;
  }
  *out = o;
  *outlen = len;
  return NN_OK;
}

nn_status ds_load_file(const char *path, uint8_t **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return nn_fail(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0, got;
  uint8_t *b = malloc(cap);
  while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      uint8_t *p = realloc(b, cap *= 2);
      if (!p) free(b);
      b = p;
    }
  }
  int err = ferror(f);
  fclose(f);
  if (!b) return nn_fail(NN_ERR_OOM, "%s: out of memory reading it", path);
  if (err) {
    free(b);
    return nn_fail(NN_ERR_IO, "%s: read error", path);
  }
  if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
    uint8_t *u = NULL;
    size_t ul = 0;
    nn_status s = ds_gunzip(path, b, n, &u, &ul);
    free(b);
    NN_TRY(s);
    b = u, n = ul;
  }
  *buf = b;
  *len = n;
  return NN_OK;
}

nn_status ds_pick_val(int64_t n, double fraction, uint64_t seed, unsigned char *is_val, int64_t *nval) {
  struct ds_sampler s;
  int64_t k = (int64_t)(fraction * (double)n + 0.5), *perm = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
  if (!perm) return nn_fail(NN_ERR_OOM, "out of memory choosing the validation examples");
  memset(is_val, 0, (size_t)n);
  ds_sampler_init(&s, n, 0, 1, seed, 1, 0);
  ds_sampler_next(&s, n, perm);
  for (int64_t i = 0; i < k && i < n; i++) is_val[perm[i]] = 1;
  ds_sampler_free(&s);
  free(perm);
  *nval = k < n ? k : n;
  return NN_OK;
}
