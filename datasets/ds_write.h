/* ds_write: write a dataset directory of HDF5 shards atomically (a temporary directory renamed at the end). */
#ifndef DS_WRITE_H
#define DS_WRITE_H
#include <stdint.h>
#include "ds_internal.h"

/* One split held in memory. */
struct ds_split_data {
  const char *name;  /* "train", "val", "test" */
  int64_t count;     /* examples (image, pairs) or tokens (text) */
  const uint8_t *pixels; const int32_t *labels;               /* image: pixels(count,c,h,w), labels(count) */
  const int32_t *tokens;                                      /* text: tokens(count) */
  const int32_t *src, *tgt; const int64_t *src_off, *tgt_off; /* pairs: offsets(count+1) from 0 into src, tgt */
  const float *features;                                      /* features: features(count,F), labels(count) */
  int64_t base; /* the arrays hold split rows [base, ...) (ds_write_one_shard of images/features); 0 otherwise */
};

/* What to write: the metadata (meta.id computed from the content when empty) and the splits. */
struct ds_spec {
  struct ds_meta meta; /* kind, image shape + class names, vocab, or pair vocabularies + special ids + max_len */
  int nsplits;
  struct ds_split_data split[DS_MAX_SPLITS]; /* split[0] is the training split: it gets `shards` shards */
  const char *source;  /* what the data was converted from (root attribute 'source') */
};

/* Progress report: what is being done, done of total; a non-zero return cancels the conversion. */
typedef int (*ds_progress_fn)(void *ctx, const char *what, int64_t done, int64_t total);

struct ds_write_opts {
  int shards;   /* shards of split[0]; smaller splits get proportionally fewer (at least 1) */
  int compress; /* chunked + deflate instead of contiguous */
  int force;    /* replace an existing non-empty output directory */
  ds_progress_fn progress;
  void *ctx;
};

/* Write spec as dataset directory `out` (complete or not at all); the message names the file on error. */
nn_status ds_write_dataset(const char *out, const struct ds_spec *spec, const struct ds_write_opts *o);
/* Write shard k of n of split sp->split[si] into the existing directory dir (sp->meta.id must be set): what
 * one rank of a data-parallel writer does (attn_train features); the arrays hold the shard's rows from base. */
nn_status ds_write_one_shard(const char *dir, const struct ds_spec *sp, int si, int k, int n, int compress);
/* Move a complete temporary dataset directory tmp to out (replacing a non-empty out only with force). */
nn_status ds_write_commit(const char *tmp, const char *out, int force);
/* Remove a temporary dataset directory (after a failure); best effort. */
void ds_write_discard(const char *tmp);
/* Check early that `out` can be written (absent, empty, or force); the converters call it before reading input. */
nn_status ds_write_check_out(const char *out, int force);
/* Report progress through o (no-op without a callback); NN_ERR_STATE when the user cancelled. */
nn_status ds_progress(const struct ds_write_opts *o, const char *what, int64_t done, int64_t total);

/* Read every example of an open split (value ranges, readable data), reporting progress. */
nn_status ds_verify_split(struct ds_reader *r, ds_progress_fn progress, void *ctx);

#endif
