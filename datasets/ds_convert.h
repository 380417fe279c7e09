/* ds_convert: converters from public formats to sharded HDF5 datasets (the `attn_data convert` commands). */
#ifndef DS_CONVERT_H
#define DS_CONVERT_H
#include <stddef.h>
#include "ds_write.h"

struct ds_convert_opts {
  const char *out;      /* output dataset directory */
  double val_fraction;  /* held out of train as split "val"; < 0: the default (images 0, text and pairs 0.1) */
  uint64_t seed;        /* which examples go to val (images, pairs) */
  int64_t max_len;      /* pairs: keep sentences of fewer than max_len words (< 0: default 10; 0: no limit) */
  const char *prefixes; /* pairs: file of English prefixes to keep, one per line (NULL: keep all) */
  const char *class_names; /* images: comma-separated class names (NULL: from the input) */
  const char *classes;     /* images: keep only these classes ("0-4", "5,7,9"), relabelled 0..k-1 in that order */
  int64_t size;            /* convert images: resize to size x size (0: keep, all images must agree) */
  struct ds_write_opts w;  /* shards, compress, force, progress */
};

/* One image split being assembled: pixels(n, c*h*w), labels(n). */
struct ds_img { uint8_t *px; int32_t *lb; int64_t n; };
void ds_img_free(struct ds_img *s);
/* Append n images (row bytes each) and their labels to s. */
nn_status ds_img_append(struct ds_img *s, const uint8_t *px, const int32_t *lb, int64_t n, int64_t row);
/* Write image splits: --classes filter, --val-fraction hold-out (or the given val), per-channel train statistics. */
nn_status ds_write_image_set(const struct ds_convert_opts *o, struct ds_meta *m, const char *source, struct ds_img *train,
                             struct ds_img *val, struct ds_img *test);

/* MNIST / Fashion-MNIST IDX files (gzip or raw) or directories holding them: splits train and test. */
nn_status ds_convert_idx(const char *const *inputs, int n, const struct ds_convert_opts *o);
/* CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin) or their directory. */
nn_status ds_convert_cifar10(const char *const *inputs, int n, const struct ds_convert_opts *o);
/* An image-folder tree DIR/{train,val,test}/<class>/ of .png/.jpg/.jpeg files (libpng, libjpeg); classes sorted by name. */
nn_status ds_convert_images(const char *const *inputs, int n, const struct ds_convert_opts *o);
/* out(c, oh, ow) = in(c, h, w) resized by bilinear interpolation, half-pixel centres, no antialiasing
 * (torch.nn.functional.interpolate(mode='bilinear', align_corners=False)), rounded to the nearest byte. */
void ds_resize_bilinear(uint8_t *out, int64_t oh, int64_t ow, const uint8_t *in, int64_t c, int64_t h, int64_t w);
/* Parse a class list "0-4" / "5,7,9" / "0-2,8" over nclasses classes: sel[0..*k) in the given order. */
nn_status ds_parse_classes(const char *list, int nclasses, int *sel, int *k);
/* mean[c], std[c] of pixels(n, c, hw) / 255 (population std). */
void ds_channel_stats(const uint8_t *pixels, int64_t n, int64_t c, int64_t hw, double *mean, double *std);
/* UTF-8 text files (concatenated) to a character stream; the tail val_fraction is split "val". */
nn_status ds_convert_text(const char *const *inputs, int n, const struct ds_convert_opts *o);
/* Tab-separated sentence pairs (source, target, extra columns ignored), normalised and filtered. */
nn_status ds_convert_pairs(const char *const *inputs, int n, const struct ds_convert_opts *o);

/* Read a whole file into memory (gunzipped when it starts with the gzip magic); *buf is malloc'd. */
nn_status ds_load_file(const char *path, uint8_t **buf, size_t *len);
/* is_val[0..n) = 1 for round(fraction*n) examples drawn by seed (the first ones of a seeded permutation). */
nn_status ds_pick_val(int64_t n, double fraction, uint64_t seed, unsigned char *is_val, int64_t *nval);
/* Normalise one sentence as the PyTorch translation tutorial does (accents stripped, lower case, . ! ? split
 * off, everything else but letters a separator): out (size >= 2*len+1) gets the words separated by single
 * spaces; returns the word count, -1 on invalid UTF-8. */
int ds_normalize_sentence(char *out, const char *in, size_t len);
/* Decode one UTF-8 code point at s[0..n); bytes used, or 0 when invalid (overlong, surrogate, truncated). */
int ds_utf8_decode(const uint8_t *s, size_t n, int32_t *cp);

#define DS_NCP 0x110000 /* Unicode code points */

#endif
