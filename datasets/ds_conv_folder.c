/* ds_conv_folder: an image-folder tree (the transfer-learning layout) to an image dataset.
 *   DIR/train/<class>/ holding .png, .jpg, .jpeg files; DIR/val/<class>/, DIR/test/<class>/ alike
 * Classes are train's sub-directories sorted by name (torchvision's ImageFolder order); val/test may hold
 * a subset of them. PNG through libpng (palette, 16-bit, alpha handled), JPEG through libjpeg. Images are
 * stored with 3 channels unless every image is grayscale (then 1); with --size S each is resized to S x S
 * by bilinear interpolation with half-pixel centres, no antialiasing (torch.nn.functional.interpolate,
 * mode='bilinear', align_corners=False); without --size every image must have the same size. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "ds_convert.h"

/* One decoded image: pixels(c, h, w) planar, c = 1 or 3. */
struct ds_pic { uint8_t *px; int64_t c, h, w; };

/* ---------------- decoding ---------------- */

struct ds_png_err { jmp_buf jb; char msg[200]; };

static void ds_png_error(png_structp p, png_const_charp msg) {
  struct ds_png_err *e = png_get_error_ptr(p);
  snprintf(e->msg, sizeof e->msg, "%s", msg);
  longjmp(e->jb, 1);
}
static void ds_png_warning(png_structp p, png_const_charp msg) { (void)p, (void)msg; }

/* Interleaved rows(h, w, c) to planar out(c, h, w). */
static void ds_planar(uint8_t *out, const uint8_t *in, int64_t h, int64_t w, int64_t c) {
  for (int64_t y = 0; y < h; y++)
    for (int64_t x = 0; x < w; x++)
      for (int64_t k = 0; k < c; k++) out[(k * h + y) * w + x] = in[(y * w + x) * c + k];
}

static nn_status ds_read_png(const char *path, FILE *f, struct ds_pic *pic) {
  struct ds_png_err e = {.msg = ""};
  png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &e, ds_png_error, ds_png_warning);
  png_infop info = p ? png_create_info_struct(p) : NULL;
  uint8_t *volatile buf = NULL;
  png_bytep *volatile rows = NULL;
  if (!p || !info) {
    png_destroy_read_struct(&p, NULL, NULL);
    return nn_fail(NN_ERR_OOM, "%s: out of memory decoding PNG", path);
  }
  if (setjmp(e.jb)) {
    png_destroy_read_struct(&p, &info, NULL);
    free(buf);
    free(rows);
    free(pic->px);
    pic->px = NULL;
    return nn_fail(NN_ERR_FORMAT, "%s: cannot decode PNG: %s", path, e.msg);
  }
  png_init_io(p, f);
  png_read_info(p, info);
  png_set_strip_16(p);
  png_set_palette_to_rgb(p);
  png_set_expand_gray_1_2_4_to_8(p);
  png_set_strip_alpha(p);
  png_read_update_info(p, info);
  int64_t w = png_get_image_width(p, info), h = png_get_image_height(p, info), c = png_get_channels(p, info);
  if (c != 1 && c != 3) png_error(p, "unsupported channel layout");
  if (w * h > (1 << 26)) png_error(p, "image larger than 64 megapixels");
  buf = malloc((size_t)(w * h * c));
  rows = malloc(sizeof(png_bytep) * (size_t)h);
  pic->px = malloc((size_t)(w * h * c));
  if (!buf || !rows || !pic->px) png_error(p, "out of memory");
  for (int64_t y = 0; y < h; y++) rows[y] = buf + y * w * c;
  png_read_image(p, rows);
  png_read_end(p, NULL);
  png_destroy_read_struct(&p, &info, NULL);
  ds_planar(pic->px, buf, h, w, c);
  free(buf);
  free(rows);
  pic->c = c, pic->h = h, pic->w = w;
  return NN_OK;
}

struct ds_jpg_err { struct jpeg_error_mgr pub; jmp_buf jb; };

static void ds_jpg_exit(j_common_ptr cinfo) { longjmp(((struct ds_jpg_err *)cinfo->err)->jb, 1); }
static void ds_jpg_silent(j_common_ptr cinfo) { (void)cinfo; }

static nn_status ds_read_jpeg(const char *path, FILE *f, struct ds_pic *pic) {
  struct jpeg_decompress_struct ci;
  struct ds_jpg_err e;
  uint8_t *volatile buf = NULL;
  ci.err = jpeg_std_error(&e.pub);
  e.pub.error_exit = ds_jpg_exit;
  e.pub.output_message = ds_jpg_silent;
  if (setjmp(e.jb)) {
    char msg[JMSG_LENGTH_MAX];
    e.pub.format_message((j_common_ptr)&ci, msg);
    jpeg_destroy_decompress(&ci);
    free(buf);
    free(pic->px);
    pic->px = NULL;
    return nn_fail(NN_ERR_FORMAT, "%s: cannot decode JPEG: %s", path, msg);
  }
  jpeg_create_decompress(&ci);
  jpeg_stdio_src(&ci, f);
  jpeg_read_header(&ci, TRUE);
  ci.out_color_space = ci.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&ci);
  int64_t w = ci.output_width, h = ci.output_height, c = ci.output_components;
  buf = malloc((size_t)(w * h * c));
  pic->px = malloc((size_t)(w * h * c));
  if (!buf || !pic->px) {
    jpeg_destroy_decompress(&ci);
    free(buf);
    free(pic->px);
    pic->px = NULL;
    return nn_fail(NN_ERR_OOM, "%s: out of memory decoding JPEG", path);
  }
  while (ci.output_scanline < ci.output_height) {
    JSAMPROW row = buf + (int64_t)ci.output_scanline * w * c;
    jpeg_read_scanlines(&ci, &row, 1);
  }
  jpeg_finish_decompress(&ci);
  jpeg_destroy_decompress(&ci);
  ds_planar(pic->px, buf, h, w, c);
  free(buf);
  pic->c = c, pic->h = h, pic->w = w;
  return NN_OK;
}

/* Decode a PNG or JPEG file (by its signature, not its name). */
static nn_status ds_read_picture(const char *path, struct ds_pic *pic) {
  *pic = (struct ds_pic){0};
  FILE *f = fopen(path, "rb");
  if (!f) return nn_fail(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  uint8_t sig[8] = {0};
  size_t got = fread(sig, 1, 8, f);
  rewind(f);
  nn_status s;
  if (got == 8 && !png_sig_cmp(sig, 0, 8)) s = ds_read_png(path, f, pic);
  else if (got >= 3 && sig[0] == 0xff && sig[1] == 0xd8 && sig[2] == 0xff) s = ds_read_jpeg(path, f, pic);
  else s = nn_fail(NN_ERR_FORMAT, "%s: not a PNG or JPEG image (%zu bytes; bad signature)", path, got);
  fclose(f);
  return s;
}

/* ---------------- resizing ---------------- */

void ds_resize_bilinear(uint8_t *out, int64_t oh, int64_t ow, const uint8_t *in, int64_t c, int64_t h, int64_t w) {
  const double sy = (double)h / (double)oh, sx = (double)w / (double)ow;
  for (int64_t y = 0; y < oh; y++) {
    double fy = ((double)y + 0.5) * sy - 0.5;
    if (fy < 0) fy = 0;
    int64_t y0 = (int64_t)fy, y1 = y0 + 1 < h ? y0 + 1 : h - 1;
    double ay = fy - (double)y0;
    for (int64_t x = 0; x < ow; x++) {
      double fx = ((double)x + 0.5) * sx - 0.5;
      if (fx < 0) fx = 0;
      int64_t x0 = (int64_t)fx, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
      double ax = fx - (double)x0;
      for (int64_t k = 0; k < c; k++) {
        const uint8_t *p = in + k * h * w;
        double v = (1 - ay) * ((1 - ax) * p[y0 * w + x0] + ax * p[y0 * w + x1]) +
                   ay * ((1 - ax) * p[y1 * w + x0] + ax * p[y1 * w + x1]);
        int iv = (int)(v + 0.5);
        out[(k * oh + y) * ow + x] = (uint8_t)(iv < 0 ? 0 : iv > 255 ? 255 : iv);
      }
    }
  }
}

/* ---------------- the folder tree ---------------- */

static int ds_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names of the entries of dir that are directories (want_dir) or image files; *n of them. */
static nn_status ds_list_dir(const char *dir, int want_dir, char ***names, int *n) {
  *names = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return nn_fail(NN_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
  int cap = 0;
  struct dirent *e;
  nn_status s = NN_OK;
  while (s == NN_OK && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[DS_PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%.3000s/%.255s", dir, e->d_name);
    if (stat(path, &st) != 0) continue;
    const char *dot = strrchr(e->d_name, '.');
    int is_img = S_ISREG(st.st_mode) && dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
    if (want_dir ? !S_ISDIR(st.st_mode) : !is_img) continue;
    if (*n == cap) {
      char **p = realloc(*names, sizeof(char *) * (size_t)(cap = cap ? 2 * cap : 64));
      if (!p) {
        s = nn_fail(NN_ERR_OOM, "%s: out of memory listing it", dir);
        break;
      }
      *names = p;
    }
    if (!((*names)[*n] = strdup(e->d_name))) s = nn_fail(NN_ERR_OOM, "%s: out of memory listing it", dir);
    else (*n)++;
  }
  closedir(d);
  if (*n) qsort(*names, (size_t)*n, sizeof(char *), ds_cmp_str);
  return s;
}

static void ds_free_names(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* Decoded images of one split (before channel unification and resizing). */
struct ds_pics { struct ds_pic *p; int32_t *lb; char **path; int64_t n, cap; };

static void ds_pics_free(struct ds_pics *s) {
  for (int64_t i = 0; i < s->n; i++) free(s->p[i].px), free(s->path[i]);
  free(s->p);
  free(s->lb);
  free(s->path);
  *s = (struct ds_pics){0};
}

/* Read split directory root/<split>/<class>/ for every class; classes not among names[] are errors. */
static nn_status ds_read_split(const char *root, const char *split, char **classes, int nclasses, struct ds_pics *out,
                               const struct ds_convert_opts *o) {
  char dir[DS_PATH_MAX];
  snprintf(dir, sizeof dir, "%.3000s/%s", root, split);
  char **sub;
  int nsub;
  NN_TRY(ds_list_dir(dir, 1, &sub, &nsub));
  nn_status s = NN_OK;
  if (nsub == 0) s = nn_fail(NN_ERR_FORMAT, "%s: no class directories (expected %s/<class>/*.png|jpg)", dir, dir);
  for (int j = 0; s == NN_OK && j < nsub; j++) {
    int label = -1;
    for (int k = 0; k < nclasses; k++)
      if (!strcmp(classes[k], sub[j])) label = k;
    char cdir[DS_PATH_MAX];
    snprintf(cdir, sizeof cdir, "%.3000s/%.255s", dir, sub[j]);
    if (label < 0) {
      s = nn_fail(NN_ERR_FORMAT, "%s: class '%s' is not one of the train classes", cdir, sub[j]);
      break;
    }
    char **files;
    int nf;
    s = ds_list_dir(cdir, 0, &files, &nf);
    if (s == NN_OK && nf == 0) s = nn_fail(NN_ERR_FORMAT, "%s: empty class: no .png/.jpg/.jpeg image in it", cdir);
    for (int i = 0; s == NN_OK && i < nf; i++) {
      char path[DS_PATH_MAX], what[DS_PATH_MAX + 32];
      snprintf(path, sizeof path, "%.3500s/%.255s", cdir, files[i]);
      snprintf(what, sizeof what, "reading %s/%s", split, sub[j]);
      s = ds_progress(&o->w, what, i, nf);
      if (s == NN_OK && out->n == out->cap) {
        int64_t cap = out->cap ? 2 * out->cap : 256;
        void *a = realloc(out->p, sizeof *out->p * (size_t)cap), *b = a ? realloc(out->lb, 4 * (size_t)cap) : NULL;
        void *c = b ? realloc(out->path, sizeof(char *) * (size_t)cap) : NULL;
        if (a) out->p = a;
        if (b) out->lb = b;
        if (c) out->path = c, out->cap = cap;
        if (!c) s = nn_fail(NN_ERR_OOM, "out of memory holding %lld images", (long long)out->n);
      }
      if (s == NN_OK) s = ds_read_picture(path, &out->p[out->n]);
      if (s == NN_OK) {
        out->lb[out->n] = label;
        out->path[out->n] = strdup(path);
        out->n++;
      }
    }
    ds_free_names(files, nf);
  }
  ds_free_names(sub, nsub);
  return s;
}

/* Unify channels (gray replicated to RGB when c == 3) and size (resize, or check) into an image split. */
static nn_status ds_pack(struct ds_pics *in, int64_t c, int64_t h, int64_t w, int resize, struct ds_img *out) {
  int64_t row = c * h * w;
  uint8_t *tmp = malloc((size_t)row), *rgb = NULL;
  if (!tmp) return nn_fail(NN_ERR_OOM, "out of memory");
  nn_status s = NN_OK;
  for (int64_t i = 0; s == NN_OK && i < in->n; i++) {
    struct ds_pic *p = &in->p[i];
    if (!resize && (p->h != h || p->w != w)) {
      s = nn_fail(NN_ERR_FORMAT, "%s: %lldx%lld image, the first image (%s) is %lldx%lld: mixed sizes need --size S",
                  in->path[i], (long long)p->w, (long long)p->h, in->path[0], (long long)w, (long long)h);
      break;
    }
    const uint8_t *src = p->px;
    if (p->c == 1 && c == 3) { /* gray to RGB */
      free(rgb);
      rgb = malloc((size_t)(3 * p->h * p->w));
      if (!rgb) {
        s = nn_fail(NN_ERR_OOM, "out of memory");
        break;
      }
      for (int k = 0; k < 3; k++) memcpy(rgb + k * p->h * p->w, p->px, (size_t)(p->h * p->w));
      src = rgb;
    }
    if (resize) ds_resize_bilinear(tmp, h, w, src, c, p->h, p->w);
    else memcpy(tmp, src, (size_t)row);
    s = ds_img_append(out, tmp, &in->lb[i], 1, row);
  }
  free(rgb);
  free(tmp);
  return s;
}

nn_status ds_convert_images(const char *const *inputs, int n, const struct ds_convert_opts *o) {
  if (n != 1) return nn_fail(NN_ERR_ARG, "convert images takes one DIR (holding train/<class>/..., val/<class>/...), got %d inputs", n);
  const char *root = inputs[0];
  struct stat st;
  if (stat(root, &st) != 0) return nn_fail(NN_ERR_IO, "%s: cannot open: %s", root, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return nn_fail(NN_ERR_ARG, "%s: not a directory (expected DIR/train/<class>/*.png|jpg)", root);
  NN_TRY(ds_write_check_out(o->out, o->w.force));
  char tdir[DS_PATH_MAX];
  snprintf(tdir, sizeof tdir, "%.3000s/train", root);
  if (stat(tdir, &st) != 0 || !S_ISDIR(st.st_mode)) return nn_fail(NN_ERR_IO, "%s: missing (the training images go in %s/<class>/)", tdir, tdir);
  struct ds_meta m = {.kind = DS_IMAGE};
  int nclasses = 0;
  nn_status s = ds_list_dir(tdir, 1, &m.class_names, &nclasses);
  m.nclasses = nclasses;
  if (s != NN_OK) {
    ds_meta_free(&m);
    return s;
  }
  s = nclasses ? NN_OK : nn_fail(NN_ERR_FORMAT, "%s: no class directories (expected %s/<class>/*.png|jpg)", tdir, tdir);
  static const char *const splits[3] = {"train", "val", "test"};
  struct ds_pics pics[3] = {{0}};
  struct ds_img img[3] = {{0}};
  for (int k = 0; s == NN_OK && k < 3; k++) {
    char d[DS_PATH_MAX];
    snprintf(d, sizeof d, "%.3000s/%s", root, splits[k]);
    if (k > 0 && stat(d, &st) != 0) continue; /* val and test are optional */
    s = ds_read_split(root, splits[k], m.class_names, nclasses, &pics[k], o);
  }
  /* channels: 3 unless every image is grayscale; size: --size, or the first training image's */
  int64_t c = 1, h = o->size > 0 ? o->size : pics[0].n ? pics[0].p[0].h : 0, w = o->size > 0 ? o->size : pics[0].n ? pics[0].p[0].w : 0;
  for (int k = 0; k < 3; k++)
    for (int64_t i = 0; i < pics[k].n; i++) c = pics[k].p[i].c > c ? pics[k].p[i].c : c;
  if (s == NN_OK && c * h * w > (1 << 26)) s = nn_fail(NN_ERR_ARG, "%s: images of %lldx%lld are too large; use --size", root, (long long)w, (long long)h);
  for (int k = 0; s == NN_OK && k < 3; k++) s = ds_pack(&pics[k], c, h, w, o->size > 0, &img[k]);
  for (int k = 0; k < 3; k++) ds_pics_free(&pics[k]);
  m.c = c, m.h = h, m.w = w;
  char source[DS_PATH_MAX + 64];
  snprintf(source, sizeof source, "image folders: %.4000s", root);
  if (s == NN_OK) s = ds_write_image_set(o, &m, source, &img[0], &img[1], &img[2]);
  for (int k = 0; k < 3; k++) ds_img_free(&img[k]);
  ds_meta_free(&m);
  return s;
}
