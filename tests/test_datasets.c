/* Unit tests of datasets/: format round trips per kind and converter, sampler properties, the prefetching
 * loader, and every bad input of the issue (each must fail with a message naming the file). */
#include <CUnit/Basic.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "ds.h"
#include "ds_convert.h"
#include "ds_h5.h"
#include "scratch.h" /* base, P, msg_has, scratch_main */

/* ---------------- helpers ---------------- */

static void write_bytes(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  if (n) fwrite(b, 1, n, f);
  fclose(f);
}

static void write_gz(const char *path, const void *b, size_t n) {
  gzFile g = gzopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  gzwrite(g, b, (unsigned)n);
  gzclose(g);
}

static void write_text(const char *path, const char *s) { write_bytes(path, s, strlen(s)); }

static size_t file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }


static void copy_file(const char *from, const char *to) {
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  CU_ASSERT_FATAL(a && b);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
  fclose(a);
  fclose(b);
}

static void truncate_file(const char *path, size_t n) { CU_ASSERT_EQUAL(truncate(path, (off_t)n), 0); }

static struct ds_convert_opts opts(const char *out) {
  return (struct ds_convert_opts){.out = out, .val_fraction = -1, .max_len = -1, .w = {.shards = 1}};
}

/* No leftover temporary directory next to out (an interrupted or failed conversion cleans up). */
static int no_tmp_left(void) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "ls -d %s/*.tmp-* >/dev/null 2>&1", base);
  return system(cmd) != 0;
}

/* Pixel k of synthetic image i (the index is recoverable from pixels 0 and 1). */
static uint8_t pix(int64_t i, int64_t k) { return k == 0 ? (uint8_t)(i & 255) : k == 1 ? (uint8_t)(i >> 8) : (uint8_t)(i * 31 + k * 7); }
static int64_t img_index(const uint8_t *p) { return p[0] | (int64_t)p[1] << 8; }

static char *names10[] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"};

/* A synthetic image dataset: splits train (ntrain) and test (ntest) of c x h x w; label(i) = i % 10 (or bad). */
static nn_status write_images(const char *out, int64_t ntrain, int64_t ntest, int64_t c, int64_t h, int64_t w, int shards, int compress, int32_t bad_label) {
  int64_t row = c * h * w, n = ntrain + ntest;
  uint8_t *px = malloc((size_t)(n * row));
  int32_t *lb = malloc(sizeof(int32_t) * (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    int64_t id = i < ntrain ? i : i - ntrain;
    for (int64_t k = 0; k < row; k++) px[i * row + k] = pix(id, k);
    lb[i] = (int32_t)(id % 10);
  }
  if (bad_label) lb[ntrain / 2] = bad_label;
  struct ds_spec sp = {.meta = {.kind = DS_IMAGE, .c = c, .h = h, .w = w, .nclasses = 10, .class_names = names10}, .source = "test"};
  sp.split[sp.nsplits++] = (struct ds_split_data){.name = "train", .count = ntrain, .pixels = px, .labels = lb};
  if (ntest) sp.split[sp.nsplits++] = (struct ds_split_data){.name = "test", .count = ntest, .pixels = px + ntrain * row, .labels = lb + ntrain};
  struct ds_write_opts o = {.shards = shards, .compress = compress};
  nn_status s = ds_write_dataset(out, &sp, &o);
  free(px);
  free(lb);
  return s;
}

/* Read every example of an image split in a scrambled order with duplicates and check it against pix(). */
static void check_images(const char *dir, const char *split, int64_t n, int64_t row) {
  struct ds_reader *r;
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, dir, split), NN_OK);
  const struct ds_meta *m = ds_get_meta(r);
  CU_ASSERT_EQUAL(m->count, n);
  CU_ASSERT_EQUAL(m->c * m->h * m->w, row);
  int64_t k = n + 5, *idx = malloc(sizeof(int64_t) * (size_t)k);
  for (int64_t i = 0; i < k; i++) idx[i] = (i * 7919 + 3) % n; /* 7919 prime: a scrambled permutation, then repeats */
  uint8_t *px = malloc((size_t)(k * row));
  int32_t *lb = malloc(sizeof(int32_t) * (size_t)k);
  CU_ASSERT_EQUAL_FATAL(ds_read_images(r, idx, k, px, lb), NN_OK);
  int bad = 0;
  for (int64_t i = 0; i < k; i++) {
    bad += lb[i] != idx[i] % 10;
    for (int64_t q = 0; q < row; q++) bad += px[i * row + q] != pix(idx[i], q);
  }
  CU_ASSERT_EQUAL(bad, 0);
  free(idx), free(px), free(lb);
  ds_close(r);
}

/* ---------------- round trips ---------------- */

static void test_image_roundtrip(void) {
  for (int compress = 0; compress < 2; compress++) {
    const char *out = P(compress ? "img_z" : "img");
    CU_ASSERT_EQUAL_FATAL(write_images(out, 37, 11, 3, 2, 5, 3, compress, 0), NN_OK);
    check_images(out, "train", 37, 30);
    check_images(out, "test", 11, 30);
    struct ds_reader *r;
    CU_ASSERT_EQUAL_FATAL(ds_open(&r, out, "train"), NN_OK);
    const struct ds_meta *m = ds_get_meta(r);
    CU_ASSERT_EQUAL(m->kind, DS_IMAGE);
    CU_ASSERT_EQUAL(m->nshards, 3);
    CU_ASSERT_EQUAL(m->nclasses, 10);
    CU_ASSERT_STRING_EQUAL(m->class_names[9], "c9");
    CU_ASSERT_STRING_EQUAL(m->split, "train");
    CU_ASSERT(!strncmp(m->id, "image-", 6));
    CU_ASSERT_EQUAL(ds_num_samples(r, 0), 37);
    ds_close(r);
  }
  char names[8][16];
  int n;
  CU_ASSERT_EQUAL(ds_list_splits(P("img"), names, 8, &n), NN_OK);
  CU_ASSERT_EQUAL(n, 2);
  CU_ASSERT_STRING_EQUAL(names[0], "train");
  CU_ASSERT_STRING_EQUAL(names[1], "test");
}

/* IDX buffer: header for dims then data. */
static uint8_t *idx_buf(int nd, const uint32_t *dims, const uint8_t *data, size_t *len) {
  size_t n = 1;
  for (int k = 0; k < nd; k++) n *= dims[k];
  uint8_t *b = malloc(4 + 4 * (size_t)nd + n);
  b[0] = b[1] = 0, b[2] = 8, b[3] = (uint8_t)nd;
  for (int k = 0; k < nd; k++)
    for (int j = 0; j < 4; j++) b[4 + 4 * k + j] = (uint8_t)(dims[k] >> (24 - 8 * j));
  memcpy(b + 4 + 4 * nd, data, n);
  *len = 4 + 4 * (size_t)nd + n;
  return b;
}

/* Synthetic IDX files in directory dir: n images of 4x3 (index in pixels 0, 1), labels i % 10. */
static void write_idx(const char *dir, const char *split, int64_t n, int gz) {
  uint8_t *px = malloc((size_t)n * 12), *lb = malloc((size_t)n);
  for (int64_t i = 0; i < n; i++) {
    for (int k = 0; k < 12; k++) px[i * 12 + k] = pix(i, k);
    lb[i] = (uint8_t)(i % 10);
  }
  uint32_t di[3] = {(uint32_t)n, 4, 3}, dl[1] = {(uint32_t)n};
  size_t li, ll;
  uint8_t *bi = idx_buf(3, di, px, &li), *bl = idx_buf(1, dl, lb, &ll);
  char p[600];
  mkdir(dir, 0777);
  snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte%s", dir, split, gz ? ".gz" : "");
  (gz ? write_gz : write_bytes)(p, bi, li);
  snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte%s", dir, split, gz ? ".gz" : "");
  (gz ? write_gz : write_bytes)(p, bl, ll);
  free(px), free(lb), free(bi), free(bl);
}

static void test_convert_idx(void) {
  write_idx(P("idx"), "train", 50, 1);
  write_idx(P("idx"), "t10k", 13, 0);
  struct ds_convert_opts o = opts(P("idx_out"));
  o.val_fraction = 0.2;
  o.seed = 7;
  o.w.shards = 2;
  const char *in[] = {P("idx")};
  CU_ASSERT_EQUAL_FATAL(ds_convert_idx(in, 1, &o), NN_OK);
  check_images(P("idx_out"), "test", 13, 12);
  /* train + val hold every training index exactly once, each in file order */
  int seen[50] = {0};
  const char *splits[] = {"train", "val"};
  int64_t counts[2];
  for (int s = 0; s < 2; s++) {
    struct ds_reader *r;
    CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("idx_out"), splits[s]), NN_OK);
    const struct ds_meta *m = ds_get_meta(r);
    CU_ASSERT_STRING_EQUAL(m->class_names[0], "0"); /* MNIST digits: "fashion" is not in the path */
    counts[s] = m->count;
    int64_t idx[64], prev = -1;
    uint8_t px[64 * 12];
    int32_t lb[64];
    for (int64_t i = 0; i < m->count; i++) idx[i] = i;
    CU_ASSERT_EQUAL_FATAL(ds_read_images(r, idx, m->count, px, lb), NN_OK);
    for (int64_t i = 0; i < m->count; i++) {
      int64_t id = img_index(px + i * 12);
      CU_ASSERT(id > prev && id < 50);
      CU_ASSERT_EQUAL(lb[i], id % 10);
      seen[id]++;
      prev = id;
    }
    ds_close(r);
  }
  CU_ASSERT_EQUAL(counts[1], 10);
  CU_ASSERT_EQUAL(counts[0], 40);
  for (int i = 0; i < 50; i++) CU_ASSERT_EQUAL(seen[i], 1);
}

static void cifar_file(const char *path, int n, int first) {
  uint8_t *b = malloc((size_t)n * 3073);
  for (int i = 0; i < n; i++) {
    b[i * 3073] = (uint8_t)((first + i) % 10);
    for (int k = 0; k < 3072; k++) b[i * 3073 + 1 + k] = pix(first + i, k);
  }
  write_bytes(path, b, (size_t)n * 3073);
  free(b);
}

static void test_convert_cifar10(void) {
  mkdir(P("cifar"), 0777);
  cifar_file(P("cifar/data_batch_1.bin"), 6, 0);
  cifar_file(P("cifar/data_batch_2.bin"), 5, 6);
  cifar_file(P("cifar/test_batch.bin"), 4, 0);
  write_text(P("cifar/batches.meta.txt"), "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n");
  struct ds_convert_opts o = opts(P("cifar_out"));
  const char *in[] = {P("cifar/data_batch_2.bin"), P("cifar/test_batch.bin"), P("cifar/data_batch_1.bin")};
  CU_ASSERT_EQUAL_FATAL(ds_convert_cifar10(in, 3, &o), NN_OK);
  check_images(P("cifar_out"), "train", 11, 3072);
  check_images(P("cifar_out"), "test", 4, 3072);
  struct ds_reader *r;
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("cifar_out"), "test"), NN_OK);
  CU_ASSERT_STRING_EQUAL(ds_get_meta(r)->class_names[9], "j");
  CU_ASSERT_EQUAL(ds_get_meta(r)->c, 3);
  ds_close(r);
}

static const char *sample_text =
    "Héllo, wörld — ✓ naïve café!\nThe quick brown fox jumps over the lazy dog.\n"
    "Ünïcödé: 日本語 and emoji 😀 end.\n";

/* t.txt: the sample text 5 times (malloc'd copy returned). */
static char *make_text(void) {
  char *text = malloc(strlen(sample_text) * 5 + 1);
  text[0] = 0;
  for (int i = 0; i < 5; i++) strcat(text, sample_text);
  write_text(P("t.txt"), text);
  return text;
}

static void test_convert_text(void) {
  char *text = make_text();
  struct ds_convert_opts o = opts(P("text_out"));
  o.val_fraction = 0.25;
  o.w.shards = 3;
  const char *in[] = {P("t.txt")};
  CU_ASSERT_EQUAL_FATAL(ds_convert_text(in, 1, &o), NN_OK);
  /* decode train + val back to the original bytes */
  char *back = calloc(strlen(text) * 2 + 1, 1);
  const char *splits[] = {"train", "val"};
  int64_t total = 0;
  for (int s = 0; s < 2; s++) {
    struct ds_reader *r;
    CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("text_out"), splits[s]), NN_OK);
    const struct ds_meta *m = ds_get_meta(r);
    CU_ASSERT_EQUAL(m->kind, DS_TEXT);
    CU_ASSERT_EQUAL(m->nshards, s ? 1 : 3);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)m->count);
    CU_ASSERT_EQUAL_FATAL(ds_read_tokens(r, 0, m->count, tok), NN_OK); /* spans every shard */
    for (int64_t i = 0; i < m->count; i++) strcat(back, m->vocab[tok[i]]);
    /* windows across a shard boundary equal the matching slice of the full read */
    int32_t win[40];
    int64_t starts[3] = {0, m->count / 3 - 5, m->count - 10};
    CU_ASSERT_EQUAL(ds_read_windows(r, starts, 3, 10, win), NN_OK);
    for (int k = 0; k < 3; k++) CU_ASSERT_EQUAL(memcmp(win + 10 * k, tok + starts[k], 40), 0);
    CU_ASSERT_NOT_EQUAL(ds_read_tokens(r, m->count - 3, 4, win), NN_OK);
    CU_ASSERT(msg_has("outside split"));
    if (s == 0) {
      CU_ASSERT(m->vocab_size > 30 && m->vocab_size < 70);
      for (int v = 1; v < m->vocab_size; v++) CU_ASSERT(strcmp(m->vocab[v - 1], m->vocab[v]) < 0); /* code point order */
      CU_ASSERT_EQUAL(ds_num_samples(r, 7), (m->count - 1) / 8);
    }
    total += m->count;
    free(tok);
    ds_close(r);
  }
  CU_ASSERT_STRING_EQUAL(back, text);
  free(back);
  free(text);
}

static void test_text_large_vocab(void) {
  /* a vocabulary beyond 65536 entries: int32 token storage and a vocabulary attribute far over 64 KiB */
  int nv = 70000;
  char **vocab = malloc(sizeof(char *) * (size_t)nv);
  for (int i = 0; i < nv; i++) {
    vocab[i] = malloc(12);
    snprintf(vocab[i], 12, "w%d", i);
  }
  int32_t tok[100];
  for (int i = 0; i < 100; i++) tok[i] = (int32_t)((i * 7001) % nv);
  struct ds_spec sp = {.meta = {.kind = DS_TEXT, .vocab_size = nv, .vocab = vocab}};
  sp.split[sp.nsplits++] = (struct ds_split_data){.name = "train", .count = 100, .tokens = tok};
  struct ds_write_opts o = {.shards = 2};
  CU_ASSERT_EQUAL_FATAL(ds_write_dataset(P("bigvocab"), &sp, &o), NN_OK);
  struct ds_reader *r;
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("bigvocab"), "train"), NN_OK);
  CU_ASSERT_EQUAL(ds_get_meta(r)->vocab_size, nv);
  CU_ASSERT_STRING_EQUAL(ds_get_meta(r)->vocab[69999], "w69999");
  int32_t back[100];
  CU_ASSERT_EQUAL(ds_read_tokens(r, 0, 100, back), NN_OK);
  CU_ASSERT_EQUAL(memcmp(back, tok, sizeof tok), 0);
  ds_close(r);
  for (int i = 0; i < nv; i++) free(vocab[i]);
  free(vocab);
}

static void test_normalize(void) {
  char out[256];
  CU_ASSERT_EQUAL(ds_normalize_sentence(out, "Go.", 3), 2);
  CU_ASSERT_STRING_EQUAL(out, "go .");
  const char *s = "  Ça va?! J'ai 3 œufs... Élève À   l'école. ";
  CU_ASSERT_EQUAL(ds_normalize_sentence(out, s, strlen(s)), 15);
  CU_ASSERT_STRING_EQUAL(out, "ca va ? ! j ai ufs . . . eleve a l ecole .");
  const char *comb = "e\xcc\x81t\xc3\xa9"; /* e + combining acute, t, é */
  CU_ASSERT_EQUAL(ds_normalize_sentence(out, comb, strlen(comb)), 1);
  CU_ASSERT_STRING_EQUAL(out, "ete");
  CU_ASSERT_EQUAL(ds_normalize_sentence(out, "a\xff", 2), -1);
}

/* The sample TSV (p.tsv) and prefixes file, converted to pairs_out with no val split. */
static void make_pairs(void) {
  write_text(P("p.tsv"),
             "Go.\tVa !\tCC-BY attribution\r\n"
             "I'm OK.\tÇa va.\n"
             "\n"
             "He is tall.\tIl est grand.\textra\textra2\n"
             "I am a very very very long sentence that goes on.\tNon.\n"
             "She's here.\tElle est là.\n"
             "I'm here.\tJe suis là.\n");
  write_text(P("prefixes.txt"), "i m \nhe is\n");
  struct ds_convert_opts o = opts(P("pairs_out"));
  o.val_fraction = 0;
  o.w.force = 1;
  const char *in[] = {P("p.tsv")};
  CU_ASSERT_EQUAL_FATAL(ds_convert_pairs(in, 1, &o), NN_OK);
}

static void test_convert_pairs(void) {
  struct ds_convert_opts o;
  const char *in[] = {P("p.tsv")};
  make_pairs();
  struct ds_reader *r;
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("pairs_out"), "train"), NN_OK);
  const struct ds_meta *m = ds_get_meta(r);
  CU_ASSERT_EQUAL(m->kind, DS_PAIRS);
  CU_ASSERT_EQUAL(m->count, 5); /* the long sentence is dropped (>= 10 words) */
  CU_ASSERT_EQUAL(m->pad_id, 0);
  CU_ASSERT_EQUAL(m->sos_id, 1);
  CU_ASSERT_EQUAL(m->eos_id, 2);
  CU_ASSERT_EQUAL(m->unk_id, 3);
  CU_ASSERT_STRING_EQUAL(m->src_vocab[4], "go");
  CU_ASSERT_STRING_EQUAL(m->tgt_vocab[4], "va");
  CU_ASSERT_EQUAL(m->max_len, 5); /* "il est grand ." + EOS */
  int64_t idx[2] = {3, 1};
  int32_t src[2 * 6], tgt[2 * 6];
  CU_ASSERT_EQUAL_FATAL(ds_read_pairs(r, idx, 2, src, tgt, 6), NN_OK);
  char words[256] = "";
  for (int k = 0; k < 6 && src[k] != m->eos_id; k++) strcat(strcat(words, m->src_vocab[src[k]]), " ");
  CU_ASSERT_STRING_EQUAL(words, "she s here . ");
  words[0] = 0;
  for (int k = 0; k < 6 && tgt[6 + k] != m->eos_id; k++) strcat(strcat(words, m->tgt_vocab[tgt[6 + k]]), " ");
  CU_ASSERT_STRING_EQUAL(words, "ca va . ");
  CU_ASSERT_EQUAL(tgt[6 + 3], m->eos_id);
  CU_ASSERT_EQUAL(tgt[6 + 4], m->pad_id);
  CU_ASSERT_EQUAL(tgt[6 + 5], m->pad_id);
  /* cut to max_len when asked for fewer */
  CU_ASSERT_EQUAL(ds_read_pairs(r, idx, 1, src, tgt, 2), NN_OK);
  CU_ASSERT_STRING_EQUAL(m->src_vocab[src[1]], "s");
  ds_close(r);

  /* prefixes keep only "i m ..." and "he is ..."; a val split gets unknown words as <unk> */
  o = opts(P("pairs_pre"));
  o.prefixes = P("prefixes.txt");
  o.val_fraction = 0.4;
  CU_ASSERT_EQUAL_FATAL(ds_convert_pairs(in, 1, &o), NN_OK);
  int64_t total = 0;
  for (int s = 0; s < 2; s++) {
    CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("pairs_pre"), s ? "val" : "train"), NN_OK);
    m = ds_get_meta(r);
    total += m->count;
    idx[0] = 0;
    CU_ASSERT_EQUAL(ds_read_pairs(r, idx, 1, src, tgt, 6), NN_OK);
    CU_ASSERT(src[0] == 3 || !strcmp(m->src_vocab[src[0]], "i") || !strcmp(m->src_vocab[src[0]], "he"));
    ds_close(r);
  }
  CU_ASSERT_EQUAL(total, 3);
}

/* ---------------- sampler ---------------- */

/* All indices of rank r for one epoch. */
static int64_t epoch_of(struct ds_sampler *s, int64_t *out) {
  int64_t n = 0, k;
  while ((k = ds_sampler_next(s, 7, out + n)) > 0) n += k;
  return n;
}

static void test_sampler_partition(void) {
  const int64_t n = 103;
  for (int drop = 0; drop < 2; drop++) {
    int count[103] = {0};
    int64_t total = 0;
    for (int r = 0; r < 4; r++) {
      struct ds_sampler s;
      ds_sampler_init(&s, n, r, 4, 42, 1, drop);
      int64_t out[64];
      int64_t k = epoch_of(&s, out);
      CU_ASSERT_EQUAL(k, drop ? 25 : 26);
      CU_ASSERT_EQUAL(s.per_rank, k);
      CU_ASSERT_EQUAL(ds_sampler_next(&s, 5, out), 0); /* the epoch is over */
      for (int64_t i = 0; i < k; i++) {
        CU_ASSERT_FATAL(out[i] >= 0 && out[i] < n);
        count[out[i]]++;
      }
      total += k;
      ds_sampler_free(&s);
    }
    int missing = 0, twice = 0;
    for (int64_t i = 0; i < n; i++) missing += count[i] == 0, twice += count[i] > 1;
    if (drop) { /* 100 distinct indices, disjoint across ranks */
      CU_ASSERT_EQUAL(total, 100);
      CU_ASSERT_EQUAL(missing, 3);
      CU_ASSERT_EQUAL(twice, 0);
    } else { /* everything covered; one index repeated as padding */
      CU_ASSERT_EQUAL(total, 104);
      CU_ASSERT_EQUAL(missing, 0);
      CU_ASSERT_EQUAL(twice, 1);
    }
  }
}

static void test_sampler_order(void) {
  /* rank r's j-th example of step s is perm[(s*B + j)*N + r], perm being the 1-rank order */
  const int64_t n = 50, B = 4, N = 3;
  struct ds_sampler one;
  int64_t perm[50];
  ds_sampler_init(&one, n, 0, 1, 9, 1, 0);
  ds_sampler_set_epoch(&one, 2);
  CU_ASSERT_EQUAL(ds_sampler_next(&one, n, perm), n);
  for (int r = 0; r < N; r++) {
    struct ds_sampler s;
    ds_sampler_init(&s, n, r, (int)N, 9, 1, 0);
    ds_sampler_set_epoch(&s, 2);
    int64_t batch[4], k;
    for (int64_t step = 0; (k = ds_sampler_next(&s, B, batch)) > 0; step++)
      for (int64_t j = 0; j < k; j++) CU_ASSERT_EQUAL(batch[j], perm[((step * B + j) * N + r) % n]);
    ds_sampler_free(&s);
  }
  ds_sampler_free(&one);
  /* identity without shuffle */
  struct ds_sampler id;
  ds_sampler_init(&id, 10, 1, 2, 9, 0, 0);
  int64_t out[5];
  CU_ASSERT_EQUAL(ds_sampler_next(&id, 5, out), 5);
  for (int j = 0; j < 5; j++) CU_ASSERT_EQUAL(out[j], 2 * j + 1);
}

static void test_sampler_determinism_and_resume(void) {
  struct ds_sampler a, b, c;
  int64_t ea[3][40], eb[40], ec[40];
  ds_sampler_init(&a, 77, 1, 2, 123, 1, 0);
  for (int e = 0; e < 3; e++) {
    ds_sampler_set_epoch(&a, e);
    CU_ASSERT_EQUAL(epoch_of(&a, ea[e]), 39);
  }
  ds_sampler_init(&b, 77, 1, 2, 123, 1, 0); /* same seed: same sequence */
  ds_sampler_set_epoch(&b, 1);
  epoch_of(&b, eb);
  CU_ASSERT_EQUAL(memcmp(eb, ea[1], sizeof eb - 8), 0);
  CU_ASSERT_NOT_EQUAL(memcmp(ea[0], ea[1], 39 * 8), 0); /* epochs differ */
  CU_ASSERT_NOT_EQUAL(memcmp(ea[1], ea[2], 39 * 8), 0);
  ds_sampler_init(&c, 77, 1, 2, 124, 1, 0); /* another seed differs */
  ds_sampler_set_epoch(&c, 1);
  epoch_of(&c, ec);
  CU_ASSERT_NOT_EQUAL(memcmp(ec, ea[1], 39 * 8), 0);
  /* restore (epoch, pos) mid-epoch: exactly the same continuation */
  struct ds_sampler d;
  ds_sampler_init(&d, 77, 1, 2, 123, 1, 0);
  d.epoch = 2;
  d.pos = 17;
  int64_t rest[40];
  CU_ASSERT_EQUAL(epoch_of(&d, rest), 39 - 17);
  CU_ASSERT_EQUAL(memcmp(rest, ea[2] + 17, (39 - 17) * 8), 0);
  /* the text offset: in range, the same on every rank, 0 without shuffle */
  int64_t o = ds_sampler_offset(&a, 9);
  CU_ASSERT(o >= 0 && o < 9);
  struct ds_sampler r0;
  ds_sampler_init(&r0, 77, 0, 2, 123, 1, 0);
  r0.epoch = a.epoch;
  CU_ASSERT_EQUAL(ds_sampler_offset(&r0, 9), o);
  int differ = 0;
  for (int e = 0; e < 10; e++) {
    ds_sampler_set_epoch(&r0, e);
    differ |= ds_sampler_offset(&r0, 1000) != o;
  }
  CU_ASSERT(differ);
  ds_sampler_init(&r0, 77, 0, 2, 123, 0, 0);
  CU_ASSERT_EQUAL(ds_sampler_offset(&r0, 9), 0);
  ds_sampler_free(&a), ds_sampler_free(&b), ds_sampler_free(&c), ds_sampler_free(&d);
}

/* ---------------- loader ---------------- */

static void test_loader_images(void) {
  CU_ASSERT_EQUAL_FATAL(write_images(P("ld"), 50, 0, 1, 2, 2, 2, 0, 0), NN_OK);
  struct ds_reader *r;
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("ld"), "train"), NN_OK);
  for (int drop = 0; drop < 2; drop++) {
    struct ds_sampler s, ref;
    ds_sampler_init(&s, 50, 1, 2, 5, 1, drop);
    ds_sampler_init(&ref, 50, 1, 2, 5, 1, drop);
    struct ds_loader *L;
    CU_ASSERT_EQUAL_FATAL(ds_loader_start(&L, r, &s, 8, 0), NN_OK);
    for (int e = 0; e < 2; e++) {
      int64_t sizes[8], nb = 0, want[8];
      struct ds_batch *b;
      do {
        CU_ASSERT_EQUAL_FATAL(ds_loader_next(L, &b), NN_OK);
        sizes[nb++] = b->n;
        int64_t k = ds_sampler_next(&ref, 8, want);
        if (b->n) CU_ASSERT_EQUAL(k, b->n);
        for (int64_t i = 0; i < b->n; i++) {
          CU_ASSERT_EQUAL(b->indices[i], want[i]);
          CU_ASSERT_EQUAL(img_index(b->pixels + 4 * i), want[i]);
          CU_ASSERT_EQUAL(b->labels[i], want[i] % 10);
        }
        if (b->n) { /* the caller's sampler shows the position after this batch */
          CU_ASSERT_EQUAL(s.epoch, e);
          CU_ASSERT_EQUAL(s.pos, ref.pos);
        }
      } while (b->n && nb < 8);
      ds_sampler_set_epoch(&ref, e + 1);
      CU_ASSERT_EQUAL(s.epoch, e + 1); /* the end marker moves on to the next epoch */
      CU_ASSERT_EQUAL(s.pos, 0);
      CU_ASSERT_EQUAL(nb, drop ? 4 : 5); /* 25 per rank: 8 8 8 (1) then the marker */
      CU_ASSERT_EQUAL(sizes[nb - 1], 0);
      if (!drop) CU_ASSERT_EQUAL(sizes[3], 1);
    }
    /* the caller moves the position (a restore): the loader continues from there */
    s.epoch = 7;
    s.pos = 8;
    ref.epoch = 7;
    ref.pos = 8;
    struct ds_batch *b;
    int64_t want[8];
    CU_ASSERT_EQUAL_FATAL(ds_loader_next(L, &b), NN_OK);
    CU_ASSERT_EQUAL(ds_sampler_next(&ref, 8, want), b->n);
    for (int64_t i = 0; i < b->n; i++) CU_ASSERT_EQUAL(b->indices[i], want[i]);
    CU_ASSERT_EQUAL(s.pos, 16);
    ds_loader_stop(L);
    ds_sampler_free(&ref);
    ds_sampler_free(&s);
  }
  /* misuse is an error, not a hang */
  struct ds_sampler s;
  struct ds_loader *L;
  ds_sampler_init(&s, 49, 0, 1, 5, 1, 1);
  CU_ASSERT_NOT_EQUAL(ds_loader_start(&L, r, &s, 8, 0), NN_OK);
  ds_sampler_init(&s, 50, 0, 1, 5, 1, 1);
  CU_ASSERT_NOT_EQUAL(ds_loader_start(&L, r, &s, 64, 0), NN_OK);
  ds_close(r);
}

static void test_loader_text_windows(void) {
  int32_t tok[1000];
  char *vocab[97];
  char vs[97][4];
  for (int i = 0; i < 97; i++) snprintf(vs[i], 4, "%d", i), vocab[i] = vs[i];
  for (int i = 0; i < 1000; i++) tok[i] = i % 97;
  struct ds_spec sp = {.meta = {.kind = DS_TEXT, .vocab_size = 97, .vocab = vocab}};
  sp.split[sp.nsplits++] = (struct ds_split_data){.name = "train", .count = 1000, .tokens = tok};
  struct ds_write_opts wo = {.shards = 3};
  CU_ASSERT_EQUAL_FATAL(ds_write_dataset(P("win"), &sp, &wo), NN_OK);
  struct ds_reader *r;
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("win"), "train"), NN_OK);
  const int64_t block = 15, win = 16, n = ds_num_samples(r, block);
  CU_ASSERT_EQUAL(n, 999 / 16);
  unsigned char used[1000] = {0};
  int64_t offset = -1, got = 0;
  for (int rank = 0; rank < 2; rank++) {
    struct ds_sampler s;
    ds_sampler_init(&s, n, rank, 2, 11, 1, 1);
    ds_sampler_set_epoch(&s, 3);
    struct ds_loader *L;
    CU_ASSERT_EQUAL_FATAL(ds_loader_start(&L, r, &s, 5, block), NN_OK);
    struct ds_batch *b;
    for (;;) {
      CU_ASSERT_EQUAL_FATAL(ds_loader_next(L, &b), NN_OK);
      if (!b->n) break;
      for (int64_t i = 0; i < b->n; i++) {
        int64_t st = b->indices[i];
        if (offset < 0) offset = st % win;
        CU_ASSERT_EQUAL(st % win, offset); /* one offset for the epoch, on every rank */
        CU_ASSERT(st + win <= 1000);
        for (int64_t k = 0; k < win; k++) {
          CU_ASSERT_EQUAL(b->tokens[i * win + k], (st + k) % 97);
          used[st + k]++;
        }
        got++;
      }
    }
    ds_loader_stop(L);
    ds_sampler_free(&s);
  }
  CU_ASSERT_EQUAL(got, 2 * (n / 2 / 5 * 5)); /* drop_last: whole batches of 5 only */
  int overlap = 0;
  for (int i = 0; i < 1000; i++) overlap += used[i] > 1; /* windows are disjoint across ranks */
  CU_ASSERT_EQUAL(overlap, 0);
  struct ds_sampler s;
  struct ds_loader *L;
  ds_sampler_init(&s, n, 0, 1, 1, 1, 0);
  CU_ASSERT_NOT_EQUAL(ds_loader_start(&L, r, &s, 4, 0), NN_OK); /* text needs a block */
  ds_close(r);
}

static void test_loader_pairs(void) {
  struct ds_reader *r;
  make_pairs();
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("pairs_out"), "train"), NN_OK);
  const struct ds_meta *m = ds_get_meta(r);
  struct ds_sampler s;
  ds_sampler_init(&s, m->count, 0, 1, 3, 1, 0);
  struct ds_loader *L;
  CU_ASSERT_EQUAL_FATAL(ds_loader_start(&L, r, &s, 2, 0), NN_OK);
  struct ds_batch *b;
  int64_t seen = 0;
  for (;;) {
    CU_ASSERT_EQUAL_FATAL(ds_loader_next(L, &b), NN_OK);
    if (!b->n) break;
    for (int64_t i = 0; i < b->n; i++) {
      int32_t src[8], tgt[8];
      CU_ASSERT_EQUAL(ds_read_pairs(r, b->indices + i, 1, src, tgt, m->max_len), NN_OK);
      CU_ASSERT_EQUAL(memcmp(src, b->src + i * m->max_len, 4 * (size_t)m->max_len), 0);
      CU_ASSERT_EQUAL(memcmp(tgt, b->tgt + i * m->max_len, 4 * (size_t)m->max_len), 0);
      int eos = 0;
      for (int64_t k = 0; k < m->max_len; k++) eos += b->src[i * m->max_len + k] == m->eos_id;
      CU_ASSERT_EQUAL(eos, 1);
    }
    seen += b->n;
  }
  CU_ASSERT_EQUAL(seen, m->count);
  ds_loader_stop(L);
  ds_sampler_free(&s);
  ds_close(r);
}

static void test_loader_error_from_thread(void) {
  CU_ASSERT_EQUAL_FATAL(write_images(P("badlabel"), 20, 0, 1, 2, 2, 2, 0, 99), NN_OK);
  struct ds_reader *r;
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("badlabel"), "train"), NN_OK);
  struct ds_sampler s;
  ds_sampler_init(&s, 20, 0, 1, 1, 0, 0);
  struct ds_loader *L;
  CU_ASSERT_EQUAL_FATAL(ds_loader_start(&L, r, &s, 20, 0), NN_OK);
  struct ds_batch *b;
  CU_ASSERT_EQUAL(ds_loader_next(L, &b), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("badlabel/train-00001-of-00002.h5"));
  CU_ASSERT(msg_has("99"));
  CU_ASSERT_EQUAL(ds_loader_next(L, &b), NN_ERR_FORMAT); /* sticky, no hang */
  ds_loader_stop(L);
  ds_close(r);
}

/* ---------------- bad input ---------------- */

static void test_bad_idx_and_gzip(void) {
  const char *in[1];
  struct ds_convert_opts o = opts(P("bad_out"));
  /* missing input */
  in[0] = P("nope");
  CU_ASSERT_EQUAL(ds_convert_idx(in, 1, &o), NN_ERR_IO);
  CU_ASSERT(msg_has("nope"));
  /* a directory without IDX files */
  mkdir(P("empty_in"), 0777);
  in[0] = P("empty_in");
  CU_ASSERT_NOT_EQUAL(ds_convert_idx(in, 1, &o), NN_OK);
  CU_ASSERT(msg_has("train-images-idx3-ubyte"));
  /* truncated raw IDX */
  write_idx(P("bi1"), "train", 20, 0);
  truncate_file(P("bi1/train-images-idx3-ubyte"), 16 + 100);
  in[0] = P("bi1");
  CU_ASSERT_EQUAL(ds_convert_idx(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("bi1/train-images-idx3-ubyte: truncated"));
  /* bad magic */
  write_idx(P("bi2"), "train", 20, 0);
  write_text(P("bi2/train-labels-idx1-ubyte"), "hello, not IDX at all");
  in[0] = P("bi2");
  CU_ASSERT_EQUAL(ds_convert_idx(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("bi2/train-labels-idx1-ubyte: bad magic"));
  /* images and labels disagree */
  write_idx(P("bi3"), "train", 20, 0);
  write_idx(P("bi3x"), "train", 19, 0);
  rename(P("bi3x/train-labels-idx1-ubyte"), P("bi3/train-labels-idx1-ubyte"));
  in[0] = P("bi3");
  CU_ASSERT_EQUAL(ds_convert_idx(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("bi3/train-labels-idx1-ubyte"));
  /* truncated gzip */
  write_idx(P("bi4"), "train", 200, 1);
  size_t n = file_size(P("bi4/train-images-idx3-ubyte.gz"));
  truncate_file(P("bi4/train-images-idx3-ubyte.gz"), n / 2);
  in[0] = P("bi4");
  CU_ASSERT_EQUAL(ds_convert_idx(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("bi4/train-images-idx3-ubyte.gz: truncated gzip"));
  /* corrupt gzip: damage the deflate stream */
  write_idx(P("bi5"), "train", 200, 1);
  FILE *f = fopen(P("bi5/train-images-idx3-ubyte.gz"), "r+b");
  fseek(f, 12, SEEK_SET);
  for (int i = 0; i < 40; i++) fputc(0xff, f);
  fclose(f);
  in[0] = P("bi5");
  CU_ASSERT_EQUAL(ds_convert_idx(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("bi5/train-images-idx3-ubyte.gz: corrupt gzip"));
  /* labels beyond the class names */
  write_idx(P("bi6"), "train", 20, 0);
  o.class_names = "a,b,c";
  in[0] = P("bi6");
  CU_ASSERT_EQUAL(ds_convert_idx(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("bi6/train-labels-idx1-ubyte: label 3"));
  CU_ASSERT(!exists(P("bad_out")));
  CU_ASSERT(no_tmp_left());
}

static void test_bad_cifar(void) {
  struct ds_convert_opts o = opts(P("bad_out"));
  mkdir(P("bc"), 0777);
  cifar_file(P("bc/data_batch_1.bin"), 3, 0);
  truncate_file(P("bc/data_batch_1.bin"), 3 * 3073 - 10);
  const char *in[] = {P("bc/data_batch_1.bin")};
  CU_ASSERT_EQUAL(ds_convert_cifar10(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("bc/data_batch_1.bin: truncated"));
  cifar_file(P("bc/data_batch_1.bin"), 3, 0);
  FILE *f = fopen(P("bc/data_batch_1.bin"), "r+b");
  fseek(f, 3073, SEEK_SET);
  fputc(200, f); /* label of record 1 */
  fclose(f);
  CU_ASSERT_EQUAL(ds_convert_cifar10(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("bc/data_batch_1.bin: label 200 of example 1"));
  /* a directory missing batches */
  mkdir(P("bc2"), 0777);
  cifar_file(P("bc2/data_batch_1.bin"), 2, 0);
  in[0] = P("bc2");
  CU_ASSERT_EQUAL(ds_convert_cifar10(in, 1, &o), NN_ERR_IO);
  CU_ASSERT(msg_has("bc2/data_batch_2.bin"));
  in[0] = P("bc2/whatever.bin");
  write_text(in[0], "x");
  CU_ASSERT_EQUAL(ds_convert_cifar10(in, 1, &o), NN_ERR_ARG);
  CU_ASSERT(msg_has("whatever.bin"));
  CU_ASSERT(!exists(P("bad_out")));
}

static void test_bad_text_and_tsv(void) {
  struct ds_convert_opts o = opts(P("bad_out"));
  const char *in[1];
  write_bytes(P("bad.txt"), "ok\n\xc3\x28 bad", 8);
  in[0] = P("bad.txt");
  CU_ASSERT_EQUAL(ds_convert_text(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("bad.txt: not valid UTF-8 at byte 3 (line 2)"));
  write_bytes(P("empty.txt"), "", 0);
  in[0] = P("empty.txt");
  CU_ASSERT_EQUAL(ds_convert_text(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("empty.txt: empty"));
  in[0] = P("missing.txt");
  CU_ASSERT_EQUAL(ds_convert_text(in, 1, &o), NN_ERR_IO);
  CU_ASSERT(msg_has("missing.txt: cannot open"));
  write_text(P("one.tsv"), "Go.\tVa !\nno tab here\n");
  in[0] = P("one.tsv");
  CU_ASSERT_EQUAL(ds_convert_pairs(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("one.tsv:2: expected at least 2 tab-separated columns"));
  write_bytes(P("utf.tsv"), "Go.\tVa \xff!\n", 10);
  in[0] = P("utf.tsv");
  CU_ASSERT_EQUAL(ds_convert_pairs(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("utf.tsv:1: not valid UTF-8"));
  write_text(P("long.tsv"), "a b c d e f g h i j k\tx\n");
  in[0] = P("long.tsv");
  CU_ASSERT_EQUAL(ds_convert_pairs(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("long.tsv: no sentence pairs left"));
  make_pairs();
  o.prefixes = P("no_prefixes.txt");
  in[0] = P("p.tsv");
  CU_ASSERT_EQUAL(ds_convert_pairs(in, 1, &o), NN_ERR_IO);
  CU_ASSERT(msg_has("no_prefixes.txt"));
  CU_ASSERT(!exists(P("bad_out")));
  CU_ASSERT(no_tmp_left());
}

/* Open split `split` of dir and expect failure with both substrings in the message. */
static void expect_open_fails(const char *dir, const char *split, const char *a, const char *b) {
  struct ds_reader *r = NULL;
  CU_ASSERT_NOT_EQUAL(ds_open(&r, dir, split), NN_OK);
  CU_ASSERT_PTR_NULL(r);
  CU_ASSERT(msg_has(a));
  if (b) CU_ASSERT(msg_has(b));
}

/* A fresh 3-shard copy of a small image dataset named `name`. */
static const char *fresh(const char *name) {
  const char *d = P(name);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf %s", d);
  CU_ASSERT_EQUAL(system(cmd), 0);
  CU_ASSERT_EQUAL(write_images(d, 30, 6, 1, 2, 2, 3, 0, 0), NN_OK);
  return d;
}

/* Overwrite an integer root attribute of a shard. */
static void set_attr(const char *path, const char *name, int64_t v) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  H5Adelete(f, name);
  CU_ASSERT_EQUAL(ds_attr_put_i64(f, path, name, v), NN_OK);
  H5Fclose(f);
}

static void test_bad_shards(void) {
  char shard[600], other[600];
  /* not an HDF5 file */
  const char *d = fresh("bs1");
  snprintf(shard, sizeof shard, "%s/train-00001-of-00003.h5", d);
  write_text(shard, "plain text");
  expect_open_fails(d, "train", "bs1/train-00001-of-00003.h5", "not an HDF5 file");
  /* truncated shard */
  d = fresh("bs2");
  snprintf(shard, sizeof shard, "%s/train-00002-of-00003.h5", d);
  truncate_file(shard, file_size(shard) / 2);
  expect_open_fails(d, "train", "bs2/train-00002-of-00003.h5", NULL);
  /* an HDF5 file that is not ours */
  d = fresh("bs3");
  snprintf(shard, sizeof shard, "%s/train-00000-of-00003.h5", d);
  hid_t f = H5Fcreate(shard, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(f);
  expect_open_fails(d, "train", "bs3/train-00000-of-00003.h5", "not an attn_train dataset");
  /* another format version */
  d = fresh("bs4");
  snprintf(shard, sizeof shard, "%s/train-00001-of-00003.h5", d);
  set_attr(shard, "format_version", 2);
  expect_open_fails(d, "train", "bs4/train-00001-of-00003.h5", "format version 2");
  /* a shard of another dataset (same layout, other content) */
  d = fresh("bs5");
  CU_ASSERT_EQUAL(write_images(P("bs5other"), 30, 6, 1, 2, 2, 3, 0, 7), NN_OK);
  snprintf(shard, sizeof shard, "%s/train-00001-of-00003.h5", d);
  snprintf(other, sizeof other, "%s/train-00001-of-00003.h5", P("bs5other"));
  copy_file(other, shard);
  expect_open_fails(d, "train", "bs5/train-00001-of-00003.h5", "another dataset");
  /* ... also caught from another split */
  d = fresh("bs5b");
  snprintf(shard, sizeof shard, "%s/test-00000-of-00001.h5", d);
  snprintf(other, sizeof other, "%s/test-00000-of-00001.h5", P("bs5other"));
  copy_file(other, shard);
  expect_open_fails(d, "train", "bs5b/test-00000-of-00001.h5", "another dataset");
  /* missing shard */
  d = fresh("bs6");
  snprintf(shard, sizeof shard, "%s/train-00001-of-00003.h5", d);
  unlink(shard);
  expect_open_fails(d, "train", "bs6/train-00001-of-00003.h5", "missing");
  /* duplicated shard (a copy under another shard's name) */
  d = fresh("bs7");
  snprintf(shard, sizeof shard, "%s/train-00002-of-00003.h5", d);
  snprintf(other, sizeof other, "%s/train-00000-of-00003.h5", d);
  copy_file(other, shard);
  expect_open_fails(d, "train", "bs7/train-00002-of-00003.h5", "duplicated");
  /* shard count mismatch: file names disagree */
  d = fresh("bs8");
  snprintf(shard, sizeof shard, "%s/train-00002-of-00003.h5", d);
  snprintf(other, sizeof other, "%s/train-00002-of-00004.h5", d);
  rename(shard, other);
  expect_open_fails(d, "train", "mixes shard counts", "train-00002-of-00004.h5");
  /* count mismatch: the shards do not add up to split_count */
  d = fresh("bs9");
  for (int k = 0; k < 3; k++) {
    snprintf(shard, sizeof shard, "%s/train-%05d-of-00003.h5", d, k);
    set_attr(shard, "split_count", 31);
  }
  expect_open_fails(d, "train", "count mismatch", "bs9/train-00002-of-00003.h5");
  /* empty split */
  d = fresh("bs10");
  expect_open_fails(d, "val", "no shards of split 'val'", "bs10");
  struct ds_spec sp = {.meta = {.kind = DS_IMAGE, .c = 1, .h = 1, .w = 1, .nclasses = 10, .class_names = names10}};
  sp.split[sp.nsplits++] = (struct ds_split_data){.name = "train", .count = 0};
  struct ds_write_opts wo = {.shards = 1};
  CU_ASSERT_EQUAL(ds_write_dataset(P("bs11"), &sp, &wo), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("split 'train' is empty"));
  CU_ASSERT(!exists(P("bs11")));
  /* missing directory */
  expect_open_fails(P("bs_nowhere"), "train", "bs_nowhere", "cannot open");
  /* verify-style full read catches bad values */
  struct ds_reader *r;
  CU_ASSERT_EQUAL_FATAL(write_images(P("badlabel2"), 20, 0, 1, 2, 2, 2, 0, 99), NN_OK);
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("badlabel2"), "train"), NN_OK);
  CU_ASSERT_EQUAL(ds_verify_split(r, NULL, NULL), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("badlabel2/train-00001-of-00002.h5"));
  ds_close(r);
}

static void test_bad_output(void) {
  write_text(P("afile"), "x");
  CU_ASSERT_EQUAL(write_images(P("afile/out"), 5, 0, 1, 1, 1, 1, 0, 0), NN_ERR_IO);
  CU_ASSERT(msg_has("afile/out"));
  /* an existing non-empty output needs force, and is replaced whole with it */
  CU_ASSERT_EQUAL(write_images(P("outx"), 5, 0, 1, 1, 1, 1, 0, 0), NN_OK);
  CU_ASSERT_EQUAL(write_images(P("outx"), 7, 0, 1, 1, 1, 2, 0, 0), NN_ERR_IO);
  CU_ASSERT(msg_has("outx: already exists"));
  struct ds_convert_opts o = opts(P("outx"));
  const char *in[] = {P("t.txt")};
  free(make_text());
  CU_ASSERT_EQUAL(ds_convert_text(in, 1, &o), NN_ERR_IO);
  o.w.force = 1;
  CU_ASSERT_EQUAL(ds_convert_text(in, 1, &o), NN_OK);
  char names[4][16];
  int n;
  CU_ASSERT_EQUAL(ds_list_splits(P("outx"), names, 4, &n), NN_OK);
  CU_ASSERT_EQUAL(n, 2);
  CU_ASSERT(!exists(P("outx/train-00000-of-00001.h5")) || file_size(P("outx/train-00000-of-00001.h5")) > 0);
  expect_open_fails(P("outx"), "test", "no shards", NULL);
  /* an empty existing directory is fine */
  mkdir(P("emptyout"), 0777);
  CU_ASSERT_EQUAL(write_images(P("emptyout"), 5, 0, 1, 1, 1, 1, 0, 0), NN_OK);
  CU_ASSERT(no_tmp_left());
}

/* Cancelling through the progress callback leaves nothing under the final name. */
static int cancel_at_write(void *ctx, const char *what, int64_t done, int64_t total) {
  return strstr(what, "writing") && done == 1;
}

static void test_interrupted_conversion(void) {
  struct ds_convert_opts o = opts(P("cancelled"));
  o.w.shards = 3;
  o.w.progress = cancel_at_write;
  const char *in[] = {P("t.txt")};
  free(make_text());
  CU_ASSERT_EQUAL(ds_convert_text(in, 1, &o), NN_ERR_STATE);
  CU_ASSERT(msg_has("interrupted"));
  CU_ASSERT(!exists(P("cancelled")));
  CU_ASSERT(no_tmp_left());
}

int main(int argc, char **argv) {
  static const struct scratch_test tests[] = {
      {"image round trip (contiguous, compressed)", test_image_roundtrip},
      {"convert idx (gzip + raw, val split)", test_convert_idx},
      {"convert cifar10", test_convert_cifar10},
      {"convert text (UTF-8, shards, windows)", test_convert_text},
      {"text with a 70000-entry vocabulary", test_text_large_vocab},
      {"pairs normalisation", test_normalize},
      {"convert pairs (filters, prefixes, vocab)", test_convert_pairs},
      {"sampler: disjoint ranks, cover, padding, drop_last", test_sampler_partition},
      {"sampler: order perm[(s*B+j)*N+r], identity", test_sampler_order},
      {"sampler: determinism, epochs, resume, offset", test_sampler_determinism_and_resume},
      {"loader: images, epochs, restore", test_loader_images},
      {"loader: text windows disjoint across ranks", test_loader_text_windows},
      {"loader: pairs", test_loader_pairs},
      {"loader: thread error comes back", test_loader_error_from_thread},
      {"bad input: IDX and gzip", test_bad_idx_and_gzip},
      {"bad input: CIFAR-10", test_bad_cifar},
      {"bad input: text and TSV", test_bad_text_and_tsv},
      {"bad input: shards", test_bad_shards},
      {"bad input: output", test_bad_output},
      {"interrupted conversion", test_interrupted_conversion},
  };
  return scratch_main("test_datasets", tests, sizeof tests / sizeof tests[0], argc, argv);
}
