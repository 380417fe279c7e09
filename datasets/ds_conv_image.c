/* ds_conv_image: MNIST / Fashion-MNIST IDX and CIFAR-10 binary batches to image datasets. */
#define _GNU_SOURCE /* strcasestr */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "ds_convert.h"

static const char *const ds_fashion_names[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
static const char *const ds_digit_names[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
static const char *const ds_cifar_names[] = {"airplane", "automobile", "bird", "cat", "deer",
                                             "dog", "frog", "horse", "ship", "truck"};

void ds_img_free(struct ds_img *s) {
  free(s->px);
  free(s->lb);
  *s = (struct ds_img){0};
}

nn_status ds_img_append(struct ds_img *s, const uint8_t *px, const int32_t *lb, int64_t n, int64_t row) {
  uint8_t *p = realloc(s->px, (size_t)((s->n + n) * row));
  if (p) s->px = p;
  int32_t *l = p ? realloc(s->lb, sizeof(int32_t) * (size_t)(s->n + n)) : NULL;
  if (l) s->lb = l;
  if (!p || !l) return nn_fail(NN_ERR_OOM, "out of memory holding %lld images", (long long)(s->n + n));
  memcpy(s->px + s->n * row, px, (size_t)(n * row));
  memcpy(s->lb + s->n, lb, sizeof(int32_t) * (size_t)n);
  s->n += n;
  return NN_OK;
}

/* m->class_names from a comma-separated list, or the given defaults. */
static nn_status ds_class_names(struct ds_meta *m, const char *list, const char *const *def, int ndef) {
  int n = 0;
  char *copy = list ? strdup(list) : NULL, *save = NULL;
  if (list && !copy) return nn_fail(NN_ERR_OOM, "out of memory");
  m->class_names = calloc(list ? strlen(list) / 2 + 2 : (size_t)ndef, sizeof(char *));
  if (!m->class_names) {
    free(copy);
    return nn_fail(NN_ERR_OOM, "out of memory");
  }
  if (list)
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) m->class_names[n++] = strdup(t);
  else
    for (; n < ndef; n++) m->class_names[n] = strdup(def[n]);
  free(copy);
  m->nclasses = n;
  for (int i = 0; i < n; i++)
    if (!m->class_names[i]) return nn_fail(NN_ERR_OOM, "out of memory");
  if (n < 1) return nn_fail(NN_ERR_ARG, "--class-names: no class names in '%s'", list);
  return NN_OK;
}

/* Labels must be below the number of classes. */
static nn_status ds_check_labels(const char *path, const int32_t *lb, int64_t n, int nclasses) {
  for (int64_t i = 0; i < n; i++)
    if (lb[i] < 0 || lb[i] >= nclasses)
      return nn_fail(NN_ERR_FORMAT, "%s: label %d of example %lld is not one of the %d classes", path, lb[i],
                     (long long)i, nclasses);
  return NN_OK;
}

nn_status ds_parse_classes(const char *list, int nclasses, int *sel, int *k) {
  *k = 0;
  const char *p = list;
  while (*p) {
    char *end;
    long a = strtol(p, &end, 10), b = a;
    if (end == p) return nn_fail(NN_ERR_ARG, "--classes '%s': expected class indices like 0-4 or 5,7,9", list);
    p = end;
    if (*p == '-') {
      const char *q = p + 1;
      b = strtol(q, &end, 10);
      if (end == q) return nn_fail(NN_ERR_ARG, "--classes '%s': a range needs an end (like 0-4)", list);
      p = end;
    }
    if (*p && *p != ',') return nn_fail(NN_ERR_ARG, "--classes '%s': unexpected '%c'", list, *p);
    if (*p && !*++p) return nn_fail(NN_ERR_ARG, "--classes '%s': expected class indices after the last comma", list);
    if (a < 0 || b >= nclasses || a > b)
      return nn_fail(NN_ERR_ARG, "--classes '%s': %ld-%ld is not a range of the dataset's classes 0-%d", list, a, b, nclasses - 1);
    for (long c = a; c <= b; c++) {
      for (int j = 0; j < *k; j++)
        if (sel[j] == c) return nn_fail(NN_ERR_ARG, "--classes '%s': class %ld given twice", list, c);
      sel[(*k)++] = (int)c;
    }
  }
  if (*k == 0) return nn_fail(NN_ERR_ARG, "--classes '%s': no class given", list);
  return NN_OK;
}

void ds_channel_stats(const uint8_t *pixels, int64_t n, int64_t c, int64_t hw, double *mean, double *std) {
  for (int64_t ch = 0; ch < c; ch++) {
    uint64_t hist[256] = {0};
    for (int64_t i = 0; i < n; i++) {
      const uint8_t *q = pixels + (i * c + ch) * hw;
      for (int64_t k = 0; k < hw; k++) hist[q[k]]++;
    }
    double cnt = (double)n * (double)hw, s1 = 0, s2 = 0;
    for (int v = 0; v < 256; v++) s1 += (double)hist[v] * (v / 255.0), s2 += (double)hist[v] * (v / 255.0) * (v / 255.0);
    mean[ch] = cnt > 0 ? s1 / cnt : 0;
    double var = cnt > 0 ? s2 / cnt - mean[ch] * mean[ch] : 0;
    std[ch] = var > 1e-12 ? sqrt(var) : 1.0; /* a constant channel: leave it unscaled */
  }
}

/* Keep the examples of classes sel[0..k) in s, relabelled by their position in sel. */
static nn_status ds_img_select(struct ds_img *s, const int *sel, int k, int64_t row) {
  int map[1024];
  for (int i = 0; i < 1024; i++) map[i] = -1;
  for (int j = 0; j < k; j++) map[sel[j]] = j;
  int64_t m = 0;
  for (int64_t i = 0; i < s->n; i++) {
    int32_t l = s->lb[i] >= 0 && s->lb[i] < 1024 ? map[s->lb[i]] : -1;
    if (l < 0) continue;
    memmove(s->px + m * row, s->px + i * row, (size_t)row);
    s->lb[m++] = l;
  }
  s->n = m;
  return NN_OK;
}

/* --classes: keep the chosen classes in every split, relabel them 0..k-1, subset the class names. */
static nn_status ds_apply_classes(const char *list, struct ds_meta *m, struct ds_img **parts, int nparts) {
  int sel[1024], k;
  if (m->nclasses > 1024) return nn_fail(NN_ERR_ARG, "--classes: more than 1024 classes are not supported");
  NN_TRY(ds_parse_classes(list, m->nclasses, sel, &k));
  int64_t row = m->c * m->h * m->w, *count = calloc((size_t)k, sizeof *count);
  if (!count) return nn_fail(NN_ERR_OOM, "out of memory");
  for (int p = 0; p < nparts; p++)
    if (parts[p]) ds_img_select(parts[p], sel, k, row);
  for (int64_t i = 0; i < parts[0]->n; i++) count[parts[0]->lb[i]]++;
  for (int j = 0; j < k; j++)
    if (!count[j]) {
      free(count);
      return nn_fail(NN_ERR_ARG, "--classes %s: class %d ('%s') has no training example", list, sel[j], m->class_names[sel[j]]);
    }
  free(count);
  char **names = calloc((size_t)k, sizeof *names);
  if (!names) return nn_fail(NN_ERR_OOM, "out of memory");
  for (int j = 0; j < k; j++) names[j] = m->class_names[sel[j]], m->class_names[sel[j]] = NULL;
  for (int i = 0; i < m->nclasses; i++) free(m->class_names[i]);
  free(m->class_names);
  m->class_names = names;
  m->nclasses = k;
  return NN_OK;
}

nn_status ds_write_image_set(const struct ds_convert_opts *o, struct ds_meta *m, const char *source, struct ds_img *train,
                             struct ds_img *val, struct ds_img *test) {
  struct ds_img tr = {0}, va = {0};
  int64_t row = m->c * m->h * m->w, nval = 0;
  double frac = o->val_fraction < 0 ? 0 : o->val_fraction;
  nn_status s = NN_OK;
  if (o->classes) {
    struct ds_img *parts[3] = {train, val, test};
    NN_TRY(ds_apply_classes(o->classes, m, parts, 3));
  }
  if (frac > 0 && val && val->n) return nn_fail(NN_ERR_ARG, "--val-fraction: the input has a val split already");
  if (frac > 0) {
    unsigned char *is_val = malloc((size_t)train->n);
    if (!is_val) return nn_fail(NN_ERR_OOM, "out of memory");
    s = ds_pick_val(train->n, frac, o->seed, is_val, &nval);
    for (int64_t i = 0; s == NN_OK && i < train->n; i++)
      s = ds_img_append(is_val[i] ? &va : &tr, train->px + i * row, train->lb + i, 1, row);
    free(is_val);
    if (s == NN_OK && (tr.n == 0 || va.n == 0))
      s = nn_fail(NN_ERR_ARG, "--val-fraction %g leaves an empty %s split of the %lld training examples", frac,
                  tr.n ? "val" : "train", (long long)train->n);
  }
  const struct ds_img *parts[3] = {nval ? &tr : train, nval ? &va : (val && val->n ? val : NULL), test && test->n ? test : NULL};
  if (s == NN_OK && m->c <= DS_NORM_MAX_C) { /* per-channel statistics of the training split */
    ds_channel_stats(parts[0]->px, parts[0]->n, m->c, m->h * m->w, m->mean, m->std);
    m->has_norm = 1;
  }
  struct ds_spec sp = {.meta = *m, .source = source};
  const char *names[3] = {"train", "val", "test"};
  for (int i = 0; i < 3; i++)
    if (parts[i])
      sp.split[sp.nsplits++] = (struct ds_split_data){.name = names[i], .count = parts[i]->n, .pixels = parts[i]->px, .labels = parts[i]->lb};
  if (s == NN_OK) s = ds_write_dataset(o->out, &sp, &o->w);
  ds_img_free(&tr);
  ds_img_free(&va);
  return s;
}

/* ---------------- IDX ---------------- */

/* Check an IDX buffer: unsigned bytes with nd dims; dims and the data pointer out. */
static nn_status ds_idx_parse(const char *path, const uint8_t *b, size_t n, int nd, int64_t dims[3], const uint8_t **data) {
  if (n < 4) return nn_fail(NN_ERR_FORMAT, "%s: truncated (%zu bytes, shorter than an IDX header)", path, n);
  uint32_t magic = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  if (b[0] || b[1] || b[3] < 1 || b[3] > 3)
    return nn_fail(NN_ERR_FORMAT, "%s: bad magic number 0x%08x, not an IDX file", path, magic);
  if (b[2] != 0x08) return nn_fail(NN_ERR_FORMAT, "%s: IDX element type 0x%02x, expected 0x08 (unsigned byte)", path, b[2]);
  if (b[3] != nd)
    return nn_fail(NN_ERR_FORMAT, "%s: IDX file with %d dimensions, expected %d (%s)", path, b[3], nd, nd == 3 ? "images" : "labels");
  size_t hdr = 4 + 4 * (size_t)nd;
  if (n < hdr) return nn_fail(NN_ERR_FORMAT, "%s: truncated IDX header (%zu bytes)", path, n);
  uint64_t total = 1;
  for (int k = 0; k < nd; k++) {
    const uint8_t *p = b + 4 + 4 * k;
    dims[k] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
    if (dims[k] == 0) return nn_fail(NN_ERR_FORMAT, "%s: IDX dimension %d is 0", path, k);
    total *= (uint64_t)dims[k];
  }
  if (n - hdr < total)
    return nn_fail(NN_ERR_FORMAT, "%s: truncated: the IDX header promises %llu bytes of data, the file has %zu", path,
                   (unsigned long long)total, n - hdr);
  if (n - hdr > total)
    return nn_fail(NN_ERR_FORMAT, "%s: %zu bytes of trailing garbage after the IDX data", path, (size_t)(n - hdr - total));
  *data = b + hdr;
  return NN_OK;
}

/* Role of an IDX file from its name: split 0 train / 1 test, kind 0 images / 1 labels; -1 if not IDX-like. */
static int ds_idx_role(const char *path, int *split, int *labels) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (!strncmp(base, "train", 5)) *split = 0;
  else if (!strncmp(base, "t10k", 4) || !strncmp(base, "test", 4)) *split = 1;
  else return -1;
  if (strstr(base, "idx3")) *labels = 0;
  else if (strstr(base, "idx1")) *labels = 1;
  else return -1;
  return 0;
}

/* files[split][labels] from the inputs (directories are scanned for IDX names). */
static nn_status ds_idx_find(const char *const *inputs, int n, char files[2][2][DS_PATH_MAX]) {
  memset(files, 0, sizeof(char) * 4 * DS_PATH_MAX);
  for (int i = 0; i < n; i++) {
    struct stat st;
    if (stat(inputs[i], &st) != 0) return nn_fail(NN_ERR_IO, "%s: cannot open: %s", inputs[i], strerror(errno));
    char cand[64][DS_PATH_MAX / 8];
    int nc = 0;
    if (S_ISDIR(st.st_mode)) {
      DIR *d = opendir(inputs[i]);
      struct dirent *e;
      while (d && (e = readdir(d)) && nc < 64) {
        int sp, lb;
        if (e->d_name[0] != '.' && ds_idx_role(e->d_name, &sp, &lb) == 0)
          snprintf(cand[nc++], sizeof cand[0], "%.200s/%.250s", inputs[i], e->d_name);
      }
      if (d) closedir(d);
    } else {
      int sp, lb;
      if (ds_idx_role(inputs[i], &sp, &lb))
        return nn_fail(NN_ERR_ARG, "%s: not an IDX file name (expected train-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz], ...)", inputs[i]);
      snprintf(cand[nc++], sizeof cand[0], "%s", inputs[i]);
    }
    for (int c = 0; c < nc; c++) {
      int sp, lb;
      ds_idx_role(cand[c], &sp, &lb);
      if (files[sp][lb][0] && strcmp(files[sp][lb], cand[c]))
        return nn_fail(NN_ERR_ARG, "%s and %s are both %s %s: pass one of them", files[sp][lb], cand[c],
                       sp ? "test" : "training", lb ? "labels" : "images");
      snprintf(files[sp][lb], DS_PATH_MAX, "%.4000s", cand[c]);
    }
  }
  for (int sp = 0; sp < 2; sp++)
    for (int lb = 0; lb < 2; lb++)
      if (!files[sp][lb][0] && (sp == 0 || files[sp][!lb][0]))
        return nn_fail(NN_ERR_IO, "%s: no %s-%s-idx%d-ubyte[.gz] found%s%s", n ? inputs[0] : "(no input)",
                       sp ? "t10k" : "train", lb ? "labels" : "images", lb ? 1 : 3, sp ? " next to " : "",
                       sp ? files[sp][!lb] : "");
  return NN_OK;
}

/* Read one split's IDX pair into s (c=1, h, w set in m on first use). */
static nn_status ds_idx_split(const struct ds_convert_opts *o, char files[2][DS_PATH_MAX], struct ds_meta *m, struct ds_img *s, int64_t *nfile, int64_t nfiles) {
  uint8_t *buf[2] = {NULL, NULL};
  size_t len[2];
  int64_t dims[2][3];
  const uint8_t *data[2];
  nn_status st = NN_OK;
  for (int k = 0; k < 2 && st == NN_OK; k++) {
    char what[DS_PATH_MAX + 16];
    snprintf(what, sizeof what, "reading %.4000s", files[k]);
    st = ds_progress(&o->w, what, (*nfile)++, nfiles);
    if (st == NN_OK) st = ds_load_file(files[k], &buf[k], &len[k]);
    if (st == NN_OK) st = ds_idx_parse(files[k], buf[k], len[k], k ? 1 : 3, dims[k], &data[k]);
  }
  if (st == NN_OK && dims[0][0] != dims[1][0])
    st = nn_fail(NN_ERR_FORMAT, "%s: %lld labels for the %lld images of %s", files[1], (long long)dims[1][0],
                 (long long)dims[0][0], files[0]);
  if (st == NN_OK && m->h && (m->h != dims[0][1] || m->w != dims[0][2]))
    st = nn_fail(NN_ERR_FORMAT, "%s: %lldx%lld images, the training images are %lldx%lld", files[0],
                 (long long)dims[0][1], (long long)dims[0][2], (long long)m->h, (long long)m->w);
  int32_t *lb = st == NN_OK ? malloc(sizeof(int32_t) * (size_t)dims[1][0]) : NULL;
  if (st == NN_OK && !lb) st = nn_fail(NN_ERR_OOM, "out of memory");
  if (st == NN_OK) {
    m->c = 1, m->h = dims[0][1], m->w = dims[0][2];
    for (int64_t i = 0; i < dims[1][0]; i++) lb[i] = data[1][i];
    st = ds_check_labels(files[1], lb, dims[1][0], m->nclasses);
  }
  if (st == NN_OK) st = ds_img_append(s, data[0], lb, dims[0][0], m->h * m->w);
  free(lb);
  free(buf[0]);
  free(buf[1]);
  return st;
}

nn_status ds_convert_idx(const char *const *inputs, int n, const struct ds_convert_opts *o) {
  char(*files)[2][DS_PATH_MAX] = calloc(2, sizeof *files);
  if (!files) return nn_fail(NN_ERR_OOM, "out of memory");
  struct ds_meta m = {.kind = DS_IMAGE};
  struct ds_img split[2] = {{0}};
  nn_status s = ds_write_check_out(o->out, o->w.force);
  if (s == NN_OK) s = ds_idx_find(inputs, n, files);
  int fashion = 0;
  for (int i = 0; i < n; i++) fashion |= strcasestr(inputs[i], "fashion") != NULL;
  if (s == NN_OK)
    s = ds_class_names(&m, o->class_names, fashion ? ds_fashion_names : ds_digit_names, 10);
  int64_t nfile = 0, nfiles = files[1][0][0] ? 4 : 2;
  for (int sp = 0; sp < 2 && s == NN_OK; sp++)
    if (files[sp][0][0]) s = ds_idx_split(o, files[sp], &m, &split[sp], &nfile, nfiles);
  char source[DS_PATH_MAX + 64];
  snprintf(source, sizeof source, "%s IDX: %.4000s", fashion ? "Fashion-MNIST" : "MNIST", files[0][0]);
  if (s == NN_OK) s = ds_write_image_set(o, &m, source, &split[0], NULL, &split[1]);
  ds_img_free(&split[0]);
  ds_img_free(&split[1]);
  ds_meta_free(&m);
  free(files);
  return s;
}

/* ---------------- CIFAR-10 ---------------- */

#define DS_CIFAR_ROW 3072

/* Append the records of one CIFAR-10 batch file to s (labels below nclasses). */
static nn_status ds_cifar_file(const char *path, struct ds_img *s, int nclasses) {
  uint8_t *b;
  size_t n;
  NN_TRY(ds_load_file(path, &b, &n));
  nn_status st = NN_OK;
  int64_t rec = (int64_t)(n / (DS_CIFAR_ROW + 1));
  if (n == 0 || n % (DS_CIFAR_ROW + 1))
    st = nn_fail(NN_ERR_FORMAT, "%s: truncated or not a CIFAR-10 batch: %zu bytes is not a whole number of %d-byte records",
                 path, n, DS_CIFAR_ROW + 1);
  int32_t *lb = st == NN_OK ? malloc(sizeof(int32_t) * (size_t)rec) : NULL;
  uint8_t *px = st == NN_OK ? malloc((size_t)rec * DS_CIFAR_ROW) : NULL;
  if (st == NN_OK && (!lb || !px)) st = nn_fail(NN_ERR_OOM, "out of memory");
  for (int64_t i = 0; st == NN_OK && i < rec; i++) {
    lb[i] = b[i * (DS_CIFAR_ROW + 1)];
    memcpy(px + i * DS_CIFAR_ROW, b + i * (DS_CIFAR_ROW + 1) + 1, DS_CIFAR_ROW);
  }
  if (st == NN_OK) st = ds_check_labels(path, lb, rec, nclasses);
  if (st == NN_OK) st = ds_img_append(s, px, lb, rec, DS_CIFAR_ROW);
  free(lb);
  free(px);
  free(b);
  return st;
}

/* Class names from batches.meta.txt next to the batches (10 non-empty lines), if present. */
static nn_status ds_cifar_meta(const char *dir, struct ds_meta *m, const char *list) {
  char path[DS_PATH_MAX], *names[10];
  snprintf(path, sizeof path, "%.4000s/batches.meta.txt", dir);
  uint8_t *b;
  size_t n;
  int k = 0;
  if (list || ds_load_file(path, &b, &n) != NN_OK) return ds_class_names(m, list, ds_cifar_names, 10);
  char *save = NULL, *text = realloc(b, n + 1);
  if (!text) {
    free(b);
    return nn_fail(NN_ERR_OOM, "out of memory");
  }
  text[n] = 0;
  for (char *t = strtok_r(text, "\r\n", &save); t && k < 10; t = strtok_r(NULL, "\r\n", &save))
    if (t[strspn(t, " \t")]) names[k++] = t;
  nn_status s = k == 10 ? ds_class_names(m, NULL, (const char *const *)names, 10)
                        : nn_fail(NN_ERR_FORMAT, "%s: %d class names, expected 10", path, k);
  free(text);
  return s;
}

nn_status ds_convert_cifar10(const char *const *inputs, int n, const struct ds_convert_opts *o) {
  char train[5][DS_PATH_MAX] = {{0}}, test[DS_PATH_MAX] = "", dir[DS_PATH_MAX] = ".";
  NN_TRY(ds_write_check_out(o->out, o->w.force));
  for (int i = 0; i < n; i++) {
    struct stat st;
    if (stat(inputs[i], &st) != 0) return nn_fail(NN_ERR_IO, "%s: cannot open: %s", inputs[i], strerror(errno));
    const char *base = strrchr(inputs[i], '/');
    base = base ? base + 1 : inputs[i];
    int k;
    if (S_ISDIR(st.st_mode)) {
      snprintf(dir, sizeof dir, "%s", inputs[i]);
      for (k = 0; k < 5; k++) snprintf(train[k], sizeof train[k], "%.4000s/data_batch_%d.bin", inputs[i], k + 1);
      snprintf(test, sizeof test, "%.4000s/test_batch.bin", inputs[i]);
    } else if (sscanf(base, "data_batch_%d.bin", &k) == 1 && k >= 1 && k <= 5) {
      snprintf(train[k - 1], sizeof train[0], "%s", inputs[i]);
      snprintf(dir, sizeof dir, "%.*s", (int)(base - inputs[i]), inputs[i]);
    } else if (!strcmp(base, "test_batch.bin")) {
      snprintf(test, sizeof test, "%s", inputs[i]);
    } else {
      return nn_fail(NN_ERR_ARG, "%s: not a CIFAR-10 batch name (data_batch_1..5.bin, test_batch.bin)", inputs[i]);
    }
  }
  struct ds_meta m = {.kind = DS_IMAGE, .c = 3, .h = 32, .w = 32};
  struct ds_img split[2] = {{0}};
  nn_status s = ds_cifar_meta(dir[0] ? dir : ".", &m, o->class_names);
  int64_t done = 0;
  for (int k = 0; k < 6 && s == NN_OK; k++) {
    const char *path = k < 5 ? train[k] : test;
    if (!path[0]) continue;
    char what[DS_PATH_MAX + 16];
    snprintf(what, sizeof what, "reading %.4000s", path);
    s = ds_progress(&o->w, what, done++, 6);
    if (s == NN_OK) s = ds_cifar_file(path, &split[k == 5], m.nclasses);
  }
  if (s == NN_OK && split[0].n == 0) s = nn_fail(NN_ERR_IO, "%s: no data_batch_N.bin among the inputs", n ? inputs[0] : "(no input)");
  if (s == NN_OK) s = ds_write_image_set(o, &m, "CIFAR-10 binary batches", &split[0], NULL, &split[1]);
  ds_img_free(&split[0]);
  ds_img_free(&split[1]);
  ds_meta_free(&m);
  return s;
}
