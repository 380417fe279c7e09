/* ds_format: shard file names, kind names and split listing (datasets/FORMAT.md). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ds_internal.h"

static const char *const ds_kinds[] = {"image", "text", "pairs", "features"};

const char *ds_kind_name(enum ds_kind k) { return (k >= DS_IMAGE && k <= DS_FEATURES) ? ds_kinds[k] : "?"; }

int ds_kind_parse(const char *name) {
  for (int k = 0; k < 4; k++)
    if (!strcmp(name, ds_kinds[k])) return k;
  return -1;
}

void ds_shard_name(char *buf, size_t size, const char *split, int index, int count) {
  snprintf(buf, size, "%s-%05d-of-%05d.h5", split, index, count);
}

int ds_split_name_ok(const char *split) {
  size_t n = strlen(split);
  if (n == 0 || n > 15) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((split[i] >= 'a' && split[i] <= 'z') || (split[i] >= '0' && split[i] <= '9') || split[i] == '_')) return 0;
  return 1;
}

int ds_shard_parse(const char *fname, char split[16], int *index, int *count) {
  size_t n = strlen(fname);
  /* <split>-IIIII-of-CCCCC.h5: the fixed tail is 17 characters */
  if (n < 19 || strcmp(fname + n - 3, ".h5")) return -1;
  const char *t = fname + n - 17;
  if (t[-1] != '-' || strncmp(t + 5, "-of-", 4)) return -1;
  for (int i = 0; i < 5; i++)
    if (t[i] < '0' || t[i] > '9' || t[9 + i] < '0' || t[9 + i] > '9') return -1;
  size_t sl = (size_t)(t - 1 - fname);
  if (sl == 0 || sl > 15) return -1;
  memcpy(split, fname, sl);
  split[sl] = 0;
  if (!ds_split_name_ok(split)) return -1;
  *index = atoi(t);
  *count = atoi(t + 9);
  return 0;
}

/* train, val, test first, then the others by name. */
static int ds_split_rank(const char *s) { return !strcmp(s, "train") ? 0 : !strcmp(s, "val") ? 1 : !strcmp(s, "test") ? 2 : 3; }

static int ds_cmp_split(const void *a, const void *b) {
  int ra = ds_split_rank(a), rb = ds_split_rank(b);
  return ra != rb ? ra - rb : strcmp((const char *)a, (const char *)b);
}

nn_status ds_list_splits(const char *dir, char names[][16], int max, int *n) {
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return nn_fail(NN_ERR_IO, "%s: cannot open dataset directory: %s", dir, strerror(errno));
  struct dirent *e;
  while ((e = readdir(d))) {
    char split[16];
    int idx, cnt, seen = 0;
    if (ds_shard_parse(e->d_name, split, &idx, &cnt)) continue;
    for (int i = 0; i < *n && !seen; i++) seen = !strcmp(names[i], split);
    if (!seen && *n < max) memcpy(names[(*n)++], split, 16);
  }
  closedir(d);
  qsort(names, (size_t)*n, 16, ds_cmp_split);
  return NN_OK;
}

void ds_meta_free(struct ds_meta *m) {
  char ***arrays[] = {&m->class_names, &m->vocab, &m->src_vocab, &m->tgt_vocab};
  int sizes[] = {m->nclasses, m->vocab_size, m->src_vocab_size, m->tgt_vocab_size};
  for (int k = 0; k < 4; k++) {
    if (*arrays[k])
      for (int i = 0; i < sizes[k]; i++) free((*arrays[k])[i]);
    free(*arrays[k]);
    *arrays[k] = NULL;
  }
}
