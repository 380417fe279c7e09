/* nn_jsonl: fields of flat one-line JSON objects (metrics.jsonl). */
#include "nn_jsonl.h"
#include <stdlib.h>
#include <string.h>

/* Where the value of "key" starts, or NULL. */
static const char *value_of(const char *line, const char *key) {
  size_t kl = strlen(key);
  for (const char *p = strchr(line, '"'); p; p = strchr(p + 1, '"')) {
    if (strncmp(p + 1, key, kl) != 0 || p[kl + 1] != '"') continue;
    const char *q = p + kl + 2;
    while (*q == ' ') q++;
    if (*q != ':') continue;
    for (q++; *q == ' ';) q++;
    return q;
  }
  return NULL;
}

int nn_jsonl_num(const char *line, const char *key, double *out) {
  const char *v = value_of(line, key);
  if (!v) return 0;
  char *end;
  double x = strtod(v, &end);
  if (end == v) return 0;
  *out = x;
  return 1;
}

int nn_jsonl_is(const char *line, const char *key, const char *val) {
  const char *v = value_of(line, key);
  size_t n = strlen(val);
  return v && *v == '"' && strncmp(v + 1, val, n) == 0 && v[n + 1] == '"';
}
