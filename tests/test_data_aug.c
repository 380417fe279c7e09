/* Unit tests of the image data path added for ResNet / transfer learning: loader augmentation (crop + flip,
 * independent of the rank count), per-channel statistics, --classes, the image-folder converter (PNG and
 * JPEG files written here), bilinear resizing, and the features dataset kind. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jpeglib.h>
#include <png.h>
#include "ds.h"
#include "ds_convert.h"
#include "model.h"
#include "nn.h"
#include "scratch.h" /* base, P, msg_has, scratch_main */

static struct ds_convert_opts opts(const char *out) {
  return (struct ds_convert_opts){.out = out, .val_fraction = -1, .max_len = -1, .w = {.shards = 1, .force = 1}};
}

/* ---------------- augmentation ---------------- */

/* The reference: build the zero-padded image explicitly, cut the window at (dy, dx), then mirror it. */
static void ref_augment(uint8_t *out, const uint8_t *in, int c, int h, int w, int pad, int dy, int dx, int flip) {
  int ph = h + 2 * pad, pw = w + 2 * pad;
  uint8_t *padded = calloc((size_t)(c * ph * pw), 1), *crop = malloc((size_t)(c * h * w));
  for (int k = 0; k < c; k++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) padded[(k * ph + y + pad) * pw + x + pad] = in[(k * h + y) * w + x];
  for (int k = 0; k < c; k++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) crop[(k * h + y) * w + x] = padded[(k * ph + y + dy) * pw + x + dx];
  for (int k = 0; k < c; k++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) out[(k * h + y) * w + x] = crop[(k * h + y) * w + (flip ? w - 1 - x : x)];
  free(padded);
  free(crop);
}

static void test_crop_flip_tiny(void) {
  const int c = 2, h = 3, w = 5;
  uint8_t img[30], got[30], want[30];
  for (int i = 0; i < c * h * w; i++) img[i] = (uint8_t)(i + 1);
  struct ds_augment a = {.pad = 2, .flip = 1, .seed = 7};
  int seen_dy[5] = {0}, seen_dx[5] = {0}, seen_flip[2] = {0}, bad = 0;
  for (int64_t idx = 0; idx < 200; idx++) {
    int dy, dx, flip;
    ds_augment_draw(&a, 3, idx, &dy, &dx, &flip);
    CU_ASSERT_FATAL(dy >= 0 && dy <= 4 && dx >= 0 && dx <= 4 && (flip == 0 || flip == 1));
    seen_dy[dy] = seen_dx[dx] = seen_flip[flip] = 1;
    memcpy(got, img, sizeof img);
    ds_augment_images(got, 1, c, h, w, &idx, 3, &a);
    ref_augment(want, img, c, h, w, 2, dy, dx, flip);
    bad += memcmp(got, want, sizeof got) != 0;
  }
  CU_ASSERT_EQUAL(bad, 0);
  for (int k = 0; k < 5; k++) CU_ASSERT(seen_dy[k] && seen_dx[k]);
  CU_ASSERT(seen_flip[0] && seen_flip[1]);
  /* a hand-checked case: offset (pad, pad) and a flip is the mirror image */
  uint8_t row[5] = {1, 2, 3, 4, 5};
  ref_augment(want, row, 1, 1, 5, 1, 1, 1, 1);
  CU_ASSERT(want[0] == 5 && want[4] == 1);
  ref_augment(want, row, 1, 1, 5, 1, 1, 0, 0); /* shifted right by one: a zero comes in on the left */
  CU_ASSERT(want[0] == 0 && want[1] == 1 && want[4] == 4);
  /* draws change with the epoch and the seed, not with anything else */
  int differ_epoch = 0, differ_seed = 0;
  struct ds_augment b = a;
  b.seed = 8;
  for (int64_t idx = 0; idx < 50; idx++) {
    int d0[3], d1[3], d2[3];
    ds_augment_draw(&a, 3, idx, &d0[0], &d0[1], &d0[2]);
    ds_augment_draw(&a, 4, idx, &d1[0], &d1[1], &d1[2]);
    ds_augment_draw(&b, 3, idx, &d2[0], &d2[1], &d2[2]);
    differ_epoch += memcmp(d0, d1, sizeof d0) != 0;
    differ_seed += memcmp(d0, d2, sizeof d0) != 0;
  }
  CU_ASSERT(differ_epoch > 25 && differ_seed > 25);
}

/* A synthetic image dataset of n examples 1 x 6 x 6 whose pixels identify the example. */
static void write_small_images(const char *out, int64_t n) {
  uint8_t *px = malloc((size_t)(n * 36));
  int32_t *lb = malloc(sizeof(int32_t) * (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    for (int k = 0; k < 36; k++) px[i * 36 + k] = (uint8_t)(1 + (i * 37 + k * 5) % 250);
    lb[i] = (int32_t)(i % 3);
  }
  char *names[] = {"a", "b", "c"};
  struct ds_spec sp = {.meta = {.kind = DS_IMAGE, .c = 1, .h = 6, .w = 6, .nclasses = 3, .class_names = names}, .source = "test"};
  sp.split[sp.nsplits++] = (struct ds_split_data){.name = "train", .count = n, .pixels = px, .labels = lb};
  struct ds_write_opts o = {.shards = 2, .force = 1};
  CU_ASSERT_EQUAL(ds_write_dataset(out, &sp, &o), NN_OK);
  free(px);
  free(lb);
}

/* Run `epochs` epochs of rank `rank` of `nranks` with batch B; store example i's augmented pixels of epoch e in
 * seen[e][i] (36 bytes) and count mismatches when an example comes twice (padding). */
static int collect(const char *dir, int64_t n, int rank, int nranks, int64_t B, int epochs, uint8_t *seen, uint8_t *have) {
  struct ds_reader *r;
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, dir, "train"), NN_OK);
  struct ds_sampler s;
  ds_sampler_init(&s, n, rank, nranks, 11, 1, 0);
  struct ds_loader *L;
  struct ds_augment aug = {.pad = 4, .flip = 1, .seed = 11};
  CU_ASSERT_EQUAL_FATAL(ds_loader_start_aug(&L, r, &s, B, 0, &aug), NN_OK);
  int bad = 0;
  for (int e = 0; e < epochs; e++) {
    struct ds_batch *b;
    for (;;) {
      CU_ASSERT_EQUAL_FATAL(ds_loader_next(L, &b), NN_OK);
      if (b->n == 0) break;
      for (int64_t j = 0; j < b->n; j++) {
        int64_t i = b->indices[j];
        uint8_t *dst = seen + ((int64_t)e * n + i) * 36;
        if (have[e * n + i]) bad += memcmp(dst, b->pixels + j * 36, 36) != 0;
        memcpy(dst, b->pixels + j * 36, 36);
        have[e * n + i] = 1;
      }
    }
  }
  ds_loader_stop(L);
  ds_sampler_free(&s);
  ds_close(r);
  return bad;
}

static void test_augment_rank_invariant(void) {
  const int64_t n = 37;
  const int epochs = 2;
  write_small_images(P("aug"), n);
  uint8_t *one = calloc((size_t)(epochs * n * 36), 1), *many = calloc((size_t)(epochs * n * 36), 1);
  uint8_t *h1 = calloc((size_t)(epochs * n), 1), *h3 = calloc((size_t)(epochs * n), 1);
  CU_ASSERT_EQUAL(collect(P("aug"), n, 0, 1, 8, epochs, one, h1), 0);
  for (int r = 0; r < 3; r++) CU_ASSERT_EQUAL(collect(P("aug"), n, r, 3, 4, epochs, many, h3), 0);
  int missing = 0, changed_epoch = 0, augmented = 0;
  for (int64_t k = 0; k < epochs * n; k++) missing += !h1[k] || !h3[k];
  CU_ASSERT_EQUAL(missing, 0);
  CU_ASSERT_EQUAL(memcmp(one, many, (size_t)(epochs * n * 36)), 0); /* example i augmented alike on 1 and 3 ranks */
  for (int64_t i = 0; i < n; i++) changed_epoch += memcmp(one + i * 36, one + (n + i) * 36, 36) != 0;
  CU_ASSERT(changed_epoch > n / 2); /* a new draw every epoch */
  /* and it is the documented transform of the stored image */
  struct ds_reader *r;
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("aug"), "train"), NN_OK);
  struct ds_augment aug = {.pad = 4, .flip = 1, .seed = 11};
  for (int64_t i = 0; i < n; i++) {
    uint8_t px[36], want[36];
    int32_t lb;
    int dy, dx, flip;
    CU_ASSERT_EQUAL_FATAL(ds_read_images(r, &i, 1, px, &lb), NN_OK);
    ds_augment_draw(&aug, 1, i, &dy, &dx, &flip);
    ref_augment(want, px, 1, 6, 6, 4, dy, dx, flip);
    augmented += memcmp(want, px, 36) != 0;
    CU_ASSERT_EQUAL(memcmp(want, one + (n + i) * 36, 36), 0);
  }
  CU_ASSERT(augmented > n / 2);
  ds_close(r);
  free(one), free(many), free(h1), free(h3);
}

/* ---------------- statistics and --classes (through convert cifar10) ---------------- */

/* A CIFAR-10 batch file of n records: label l(i) = (i * 3) % 10, pixels from i. */
static void cifar_batch(const char *path, int n) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  for (int i = 0; i < n; i++) {
    uint8_t rec[3073];
    rec[0] = (uint8_t)((i * 3) % 10);
    for (int k = 0; k < 3072; k++) rec[1 + k] = (uint8_t)((i * 13 + k * (k / 1024 + 1)) % 256);
    fwrite(rec, 1, sizeof rec, f);
  }
  fclose(f);
}

static void test_stats_and_classes(void) {
  mkdir(P("cif"), 0777);
  cifar_batch(P("cif/data_batch_1.bin"), 40);
  cifar_batch(P("cif/test_batch.bin"), 20);
  const char *in[] = {P("cif/data_batch_1.bin"), P("cif/test_batch.bin")};
  struct ds_convert_opts o = opts(P("cif_all"));
  CU_ASSERT_EQUAL_FATAL(ds_convert_cifar10(in, 2, &o), NN_OK);
  struct ds_reader *r;
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("cif_all"), "train"), NN_OK);
  const struct ds_meta *m = ds_get_meta(r);
  CU_ASSERT(m->has_norm);
  for (int c = 0; c < 3; c++) { /* the definition, summed here in the obvious way */
    double s1 = 0, s2 = 0, cnt = 40.0 * 1024;
    for (int i = 0; i < 40; i++)
      for (int k = c * 1024; k < (c + 1) * 1024; k++) {
        double v = (double)((i * 13 + k * (k / 1024 + 1)) % 256) / 255.0;
        s1 += v, s2 += v * v;
      }
    double mean = s1 / cnt, sd = sqrt(s2 / cnt - mean * mean);
    CU_ASSERT_DOUBLE_EQUAL(m->mean[c], mean, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(m->std[c], sd, 1e-9);
  }
  ds_close(r);

  /* --classes 7,2: only those, relabelled 0 and 1, names subset; test split filtered too */
  o = opts(P("cif_sub"));
  o.classes = "7,2";
  CU_ASSERT_EQUAL_FATAL(ds_convert_cifar10(in, 2, &o), NN_OK);
  const char *splits[2] = {"train", "test"};
  int64_t expect[2] = {0, 0};
  for (int i = 0; i < 40; i++) expect[0] += (i * 3) % 10 == 7 || (i * 3) % 10 == 2;
  for (int i = 0; i < 20; i++) expect[1] += (i * 3) % 10 == 7 || (i * 3) % 10 == 2;
  for (int sp = 0; sp < 2; sp++) {
    CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("cif_sub"), splits[sp]), NN_OK);
    m = ds_get_meta(r);
    CU_ASSERT_EQUAL(m->nclasses, 2);
    CU_ASSERT_STRING_EQUAL(m->class_names[0], "horse");
    CU_ASSERT_STRING_EQUAL(m->class_names[1], "bird");
    CU_ASSERT_EQUAL(m->count, expect[sp]);
    int64_t k = 0;
    for (int i = 0; i < (sp ? 20 : 40); i++) {
      int l = (i * 3) % 10;
      if (l != 7 && l != 2) continue;
      uint8_t px[3072];
      int32_t lb;
      CU_ASSERT_EQUAL_FATAL(ds_read_images(r, &k, 1, px, &lb), NN_OK);
      CU_ASSERT_EQUAL(lb, l == 7 ? 0 : 1);
      CU_ASSERT_EQUAL(px[5], (uint8_t)((i * 13 + 5) % 256)); /* file order kept */
      k++;
    }
    ds_close(r);
  }
  /* bad lists */
  const char *bad[] = {"3-12", "x", "2,2", "4-1", "1,", ""};
  const char *why[] = {"not a range", "expected class indices", "given twice", "not a range", "expected class indices", "no class"};
  for (int i = 0; i < 6; i++) {
    o = opts(P("cif_bad"));
    o.classes = bad[i];
    CU_ASSERT_EQUAL(ds_convert_cifar10(in, 2, &o), NN_ERR_ARG);
    CU_ASSERT(msg_has("--classes"));
    CU_ASSERT(msg_has(why[i]));
  }
  o = opts(P("cif_bad")); /* labels are (3i) % 10 over 40 examples: every class occurs; take one batch of 3 */
  cifar_batch(P("cif/data_batch_2.bin"), 3); /* labels 0, 3, 6 */
  const char *in2[] = {P("cif/data_batch_2.bin")};
  o.classes = "0-1";
  CU_ASSERT_EQUAL(ds_convert_cifar10(in2, 1, &o), NN_ERR_ARG);
  CU_ASSERT(msg_has("class 1 ('automobile') has no training example"));
}

/* ---------------- image folders ---------------- */

/* Write a PNG of w x h with c = 1 (gray) or 3 (RGB) channels from interleaved pixels. */
static void write_png(const char *path, int w, int h, int c, const uint8_t *px) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(p);
  png_init_io(p, f);
  png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, 8, c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(p, info);
  for (int y = 0; y < h; y++) png_write_row(p, (png_const_bytep)(px + y * w * c));
  png_write_end(p, NULL);
  png_destroy_write_struct(&p, &info);
  fclose(f);
}

static void write_jpeg(const char *path, int w, int h, const uint8_t *rgb) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  struct jpeg_compress_struct ci;
  struct jpeg_error_mgr err;
  ci.err = jpeg_std_error(&err);
  jpeg_create_compress(&ci);
  jpeg_stdio_dest(&ci, f);
  ci.image_width = (JDIMENSION)w, ci.image_height = (JDIMENSION)h, ci.input_components = 3, ci.in_color_space = JCS_RGB;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, 100, TRUE);
  jpeg_start_compress(&ci, TRUE);
  while (ci.next_scanline < ci.image_height) {
    JSAMPROW row = (JSAMPROW)(rgb + (int64_t)ci.next_scanline * w * 3);
    jpeg_write_scanlines(&ci, &row, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  fclose(f);
}

/* Interleaved RGB test image k of w x h: smooth so that JPEG keeps it within a few levels. */
static void rgb_image(uint8_t *px, int w, int h, int k) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = (uint8_t)(40 + 20 * k + 10 * c + 3 * x + 2 * y);
}

static void mk(const char *rel) {
  char cmd[800];
  snprintf(cmd, sizeof cmd, "mkdir -p %s", P(rel));
  CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_image_folders(void) {
  /* train: cat (2 PNG RGB), dog (1 JPEG, 1 gray PNG); val: dog (1 PNG); all 8x6 */
  uint8_t px[8 * 6 * 3], gray[8 * 6];
  mk("folders/train/cat");
  mk("folders/train/dog");
  mk("folders/val/dog");
  rgb_image(px, 8, 6, 0);
  write_png(P("folders/train/cat/a.png"), 8, 6, 3, px);
  rgb_image(px, 8, 6, 1);
  write_png(P("folders/train/cat/b.PNG"), 8, 6, 3, px);
  rgb_image(px, 8, 6, 2);
  write_jpeg(P("folders/train/dog/c.jpg"), 8, 6, px);
  for (int i = 0; i < 48; i++) gray[i] = (uint8_t)(i * 5);
  write_png(P("folders/train/dog/d.png"), 8, 6, 1, gray);
  rgb_image(px, 8, 6, 3);
  write_png(P("folders/val/dog/e.png"), 8, 6, 3, px);
  FILE *f = fopen(P("folders/train/cat/notes.txt"), "w"); /* ignored: not an image name */
  fputs("hello", f);
  fclose(f);
  struct ds_convert_opts o = opts(P("folders_out"));
  const char *in[] = {P("folders")};
  CU_ASSERT_EQUAL_FATAL(ds_convert_images(in, 1, &o), NN_OK);
  struct ds_reader *r;
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("folders_out"), "train"), NN_OK);
  const struct ds_meta *m = ds_get_meta(r);
  CU_ASSERT(m->c == 3 && m->h == 6 && m->w == 8 && m->nclasses == 2);
  CU_ASSERT_STRING_EQUAL(m->class_names[0], "cat");
  CU_ASSERT_STRING_EQUAL(m->class_names[1], "dog");
  CU_ASSERT_EQUAL(m->count, 4);
  uint8_t got[4][144];
  int32_t lb[4];
  int64_t idx[4] = {0, 1, 2, 3};
  CU_ASSERT_EQUAL_FATAL(ds_read_images(r, idx, 4, &got[0][0], lb), NN_OK);
  CU_ASSERT(lb[0] == 0 && lb[1] == 0 && lb[2] == 1 && lb[3] == 1);
  int bad_png = 0, bad_jpg = 0, bad_gray = 0;
  for (int k = 0; k < 3; k++) {
    rgb_image(px, 8, 6, k);
    for (int y = 0; y < 6; y++)
      for (int x = 0; x < 8; x++)
        for (int c = 0; c < 3; c++) {
          int want = px[(y * 8 + x) * 3 + c], have = got[k][(c * 6 + y) * 8 + x]; /* stored planar */
          if (k < 2) bad_png += want != have;
          else bad_jpg += abs(want - have) > 4;
          bad_gray += got[3][(c * 6 + y) * 8 + x] != gray[y * 8 + x]; /* gray replicated to 3 channels */
        }
  }
  CU_ASSERT_EQUAL(bad_png, 0);
  CU_ASSERT_EQUAL(bad_jpg, 0);
  CU_ASSERT_EQUAL(bad_gray, 0);
  ds_close(r);
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("folders_out"), "val"), NN_OK);
  CU_ASSERT_EQUAL(ds_get_meta(r)->count, 1);
  CU_ASSERT_EQUAL(ds_get_meta(r)->nclasses, 2); /* val has only dog, the classes are train's */
  ds_close(r);

  /* mixed sizes: an error naming the file, unless --size */
  uint8_t big[12 * 10 * 3];
  rgb_image(big, 12, 10, 5);
  write_png(P("folders/train/cat/z.png"), 12, 10, 3, big);
  o = opts(P("folders_out2"));
  CU_ASSERT_EQUAL(ds_convert_images(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("z.png") && msg_has("--size"));
  o.size = 4;
  CU_ASSERT_EQUAL_FATAL(ds_convert_images(in, 1, &o), NN_OK);
  CU_ASSERT_EQUAL_FATAL(ds_open(&r, P("folders_out2"), "train"), NN_OK);
  CU_ASSERT(ds_get_meta(r)->h == 4 && ds_get_meta(r)->w == 4 && ds_get_meta(r)->count == 5);
  ds_close(r);

  /* an unreadable image names the file */
  f = fopen(P("folders/train/dog/broken.jpg"), "wb");
  fputs("\xff\xd8\xff garbage that is no JPEG", f);
  fclose(f);
  CU_ASSERT_NOT_EQUAL(ds_convert_images(in, 1, &o), NN_OK);
  CU_ASSERT(msg_has("broken.jpg") && msg_has("JPEG"));
  unlink(P("folders/train/dog/broken.jpg"));
  f = fopen(P("folders/train/dog/fake.png"), "wb");
  fputs("not a png at all", f);
  fclose(f);
  CU_ASSERT_EQUAL(ds_convert_images(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("fake.png") && msg_has("not a PNG or JPEG"));
  unlink(P("folders/train/dog/fake.png"));
  /* an empty class */
  mk("folders/train/emu");
  CU_ASSERT_EQUAL(ds_convert_images(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("train/emu") && msg_has("empty class"));
  rmdir(P("folders/train/emu"));
  /* a val class that train lacks */
  mk("folders/val/fox");
  write_png(P("folders/val/fox/f.png"), 8, 6, 3, px);
  CU_ASSERT_EQUAL(ds_convert_images(in, 1, &o), NN_ERR_FORMAT);
  CU_ASSERT(msg_has("val/fox") && msg_has("not one of the train classes"));
  /* no train directory */
  mk("nofolders/val/a");
  const char *in2[] = {P("nofolders")};
  CU_ASSERT_EQUAL(ds_convert_images(in2, 1, &o), NN_ERR_IO);
  CU_ASSERT(msg_has("nofolders/train"));
}

static void test_resize_bilinear(void) {
  /* 1 x 2 -> 1 x 4 with half-pixel centres: source x = (x + 0.5) / 2 - 0.5, clamped at 0 */
  uint8_t in[2] = {0, 100}, out[4];
  ds_resize_bilinear(out, 1, 4, in, 1, 1, 2);
  CU_ASSERT(out[0] == 0 && out[1] == 25 && out[2] == 75 && out[3] == 100);
  /* 4 x 4 -> 2 x 2: every output pixel is the mean of a 2 x 2 block (source at the block's centre) */
  uint8_t sq[16], small[4];
  for (int i = 0; i < 16; i++) sq[i] = (uint8_t)(i * 10);
  ds_resize_bilinear(small, 2, 2, sq, 1, 4, 4);
  CU_ASSERT(small[0] == (0 + 10 + 40 + 50) / 4 && small[3] == (100 + 110 + 140 + 150) / 4);
  /* same size is the identity */
  uint8_t same[16];
  ds_resize_bilinear(same, 4, 4, sq, 1, 4, 4);
  CU_ASSERT_EQUAL(memcmp(same, sq, 16), 0);
}

static void test_model_images_norm(void) {
  /* 2 images of 2 channels x 1 x 3: (p/255 - mean[c]) / std[c], and the 0.5/0.5 fallback without statistics */
  uint8_t px[12] = {0, 51, 255, 10, 20, 30, 255, 0, 102, 40, 50, 60};
  int32_t lb[2] = {0, 1};
  struct ds_batch b = {.n = 2, .pixels = px, .labels = lb};
  struct ds_meta m = {.kind = DS_IMAGE, .c = 2, .h = 1, .w = 3, .has_norm = 1, .mean = {0.25, 0.5}, .std = {0.5, 0.125}};
  struct nn_graph g;
  nn_graph_init(&g, &nn_cpu_backend, 0);
  struct nn_tensor *x = model_images_norm(&g, &b, &m);
  CU_ASSERT_PTR_NOT_NULL_FATAL(x);
  float h[12];
  nn_be_to_host(g.be, h, x->data, sizeof h);
  int bad = 0;
  for (int i = 0; i < 12; i++) {
    int c = (i / 3) % 2;
    double want = ((double)px[i] / 255.0 - m.mean[c]) / m.std[c];
    bad += fabs(h[i] - want) > 1e-5 * (1 + fabs(want));
  }
  CU_ASSERT_EQUAL(bad, 0);
  m.has_norm = 0;
  x = model_images_norm(&g, &b, &m);
  nn_be_to_host(g.be, h, x->data, sizeof h);
  CU_ASSERT_DOUBLE_EQUAL(h[0], -1.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(h[2], 1.0, 1e-6);
  nn_graph_destroy(&g);
}

int main(int argc, char **argv) {
  static const struct scratch_test tests[] = {
      {"augment: crop + flip of a tiny image", test_crop_flip_tiny},
      {"augment: example i alike on 1 and 3 ranks", test_augment_rank_invariant},
      {"channel statistics and --classes", test_stats_and_classes},
      {"convert images: PNG, JPEG, gray, errors", test_image_folders},
      {"bilinear resize", test_resize_bilinear},
      {"model_images_norm: per-channel statistics", test_model_images_norm},
  };
  return scratch_main("test_data_aug", tests, sizeof tests / sizeof tests[0], argc, argv);
}
