/* ds: sharded HDF5 datasets (datasets/FORMAT.md) — reader, distributed sampler, prefetching loader. */
#ifndef DS_H
#define DS_H
#include <stdint.h>
#include "nn_status.h"

enum ds_kind { DS_IMAGE, DS_TEXT, DS_PAIRS, DS_FEATURES };

#define DS_NORM_MAX_C 4 /* per-channel mean/std are stored for images of at most 4 channels */

struct ds_meta {               /* what a model needs to build itself */
  enum ds_kind kind; char id[64]; char split[16]; int nshards; int64_t count; /* examples (image/pairs) or tokens (text) */
  int64_t c, h, w; int nclasses; char **class_names;           /* image (features: nclasses, class_names) */
  int has_norm; double mean[DS_NORM_MAX_C], std[DS_NORM_MAX_C]; /* image: per-channel mean/std of pixels/255 over train */
  int64_t feature_dim; char layer[64];                          /* features: F, and the layer they come from */
  int vocab_size; char **vocab;                                 /* text: UTF-8 string of each char id */
  int src_vocab_size, tgt_vocab_size; char **src_vocab, **tgt_vocab; int sos_id, eos_id, pad_id; /* pairs */
  int unk_id; int64_t max_len; /* pairs: id of words unseen in training; longest src/tgt sequence (EOS included) */
};

struct ds_reader;
/* Names of the splits in dataset directory dir (from shard file names), sorted; *n of at most max. */
nn_status ds_list_splits(const char *dir, char names[][16], int max, int *n);
/* Open split `split` of the dataset directory `dir`, validating every shard; the message names file + problem. */
nn_status ds_open(struct ds_reader **r, const char *dir, const char *split);
/* The split's metadata (valid until ds_close). */
const struct ds_meta *ds_get_meta(const struct ds_reader *r);
/* pixels(n,c,h,w), labels(n) = examples idx[0..n) in request order (duplicates allowed). */
nn_status ds_read_images(struct ds_reader *r, const int64_t *idx, int64_t n, uint8_t *pixels, int32_t *labels);
/* x(n,F), labels(n) = feature rows idx[0..n) of a features dataset, in request order. */
nn_status ds_read_features(struct ds_reader *r, const int64_t *idx, int64_t n, float *x, int32_t *labels);
/* out(len) = tokens [start, start+len) of the text stream (may span shards). */
nn_status ds_read_tokens(struct ds_reader *r, int64_t start, int64_t len, int32_t *out);
/* src(n,max_len), tgt(n,max_len) = pairs idx[0..n), EOS included, padded with pad_id (longer ones cut to max_len). */
nn_status ds_read_pairs(struct ds_reader *r, const int64_t *idx, int64_t n, int32_t *src, int32_t *tgt, int64_t max_len);
/* Close the shards and free the metadata (stop any loader over r first). */
void ds_close(struct ds_reader *r);
/* Sampler size for this split: examples (image, pairs) or text window slots (count-1)/(block+1). */
int64_t ds_num_samples(const struct ds_reader *r, int64_t block);

/* DistributedSampler semantics: a permutation of [0,n) from (seed, epoch) (identity when !shuffle);
 * per_rank = ceil(n/nranks), padded by wrapping round the permutation, or floor(n/nranks) with drop_last;
 * rank r takes perm[r::nranks], so its j-th index of the epoch is perm[(j*nranks + r) % n].
 * The position is (epoch, pos): restoring both gives exactly the same continuation. */
struct ds_sampler {
  int64_t n, per_rank, epoch, pos;
  int64_t start; /* global examples of this epoch consumed before this sampler took over (a resume); 0 normally */
  int rank, nranks, shuffle, drop_last;
  uint64_t seed;
  int64_t *perm, perm_epoch; /* cached permutation of perm_epoch (NULL until first use; ds_sampler_free) */
  /* length grouping (ds_sampler_set_buckets; keys NULL: off) */
  const uint32_t *keys;  /* sort key of every example (borrowed, n entries) */
  int64_t unit, window;  /* global batch (examples) and sort window (in global batches) */
  int64_t unit_epoch, unit_old, window_old; /* epoch unit_epoch was begun with those (a resume) */
  uint32_t group_key; /* set by ds_sampler_next when keys are set: the largest key over the positions it
                       * handed out and the same positions of every other rank (the global batch) */
};
/* Set up a sampler over n examples for rank `rank` of `nranks`, at epoch 0, pos 0. */
void ds_sampler_init(struct ds_sampler *s, int64_t n, int rank, int nranks, uint64_t seed, int shuffle, int drop_last);
/* This rank's next `count` indices of the current epoch, advancing pos; returns how many were available. */
int64_t ds_sampler_next(struct ds_sampler *s, int64_t count, int64_t *out);
/* Start epoch `epoch` (pos = 0). */
void ds_sampler_set_epoch(struct ds_sampler *s, int64_t epoch);
/* Global examples of the current epoch consumed so far by all ranks together (start + pos * nranks). */
int64_t ds_sampler_consumed(const struct ds_sampler *s);
/* Continue epoch `epoch` after `consumed` global examples, on any rank count: rank r takes
 * perm[consumed + r], perm[consumed + r + nranks], ... (exact resume, no example repeated or skipped). */
void ds_sampler_resume(struct ds_sampler *s, int64_t epoch, int64_t consumed);
/* Uniform integer in [0, range) fixed by (seed, epoch), identical on every rank; 0 when !shuffle. */
int64_t ds_sampler_offset(const struct ds_sampler *s, int64_t range);
/* Length-grouped batches (torchtext's BucketIterator, fairseq's batches by length): the epoch's
 * random permutation is cut into windows of `window` global batches of `unit` examples, each window
 * is sorted by keys[] (stable: ties keep their random order), cut into global batches of `unit`, and
 * the full batches are shuffled (the last, partial one stays last). A function of (seed, epoch, unit)
 * alone: every global batch is the same on any rank count with the same global batch, every example
 * comes once per epoch, and a resume lands on the same batch. keys (n entries) stay the caller's;
 * NULL or window < 1: the plain permutation (keys are still kept for ds_sampler_resume_unit). */
void ds_sampler_set_buckets(struct ds_sampler *s, const uint32_t *keys, int64_t unit, int64_t window);
/* Resuming epoch `epoch` that was begun with another global batch `unit_old` or window `window_old`
 * (0: not grouped): the rest of that epoch follows the writer's order (every example still once; its
 * batches no longer align with the groups). Needs the keys (ds_sampler_set_buckets, any window). */
void ds_sampler_resume_unit(struct ds_sampler *s, int64_t epoch, int64_t unit_old, int64_t window_old);
/* Free the cached permutation (the sampler stays usable). */
void ds_sampler_free(struct ds_sampler *s);

/* A batch: images fill pixels(n,c,h,w)+labels(n); text fills tokens(n,block+1); pairs fill src,tgt(n,max_len).
 * indices(n) are the sampler indices (for text: each window's first token in the stream). */
struct ds_batch { int64_t n; uint8_t *pixels; int32_t *labels; int32_t *tokens; int32_t *src, *tgt; int64_t *indices;
                  float *features; /* features datasets: (n, F) */
                  uint32_t group_key; /* largest sort key (ds_sampler_set_buckets) of the global batch, 0: none */ };

/* Training-time image augmentation, done by the loader thread (torchvision's RandomCrop(size, padding=pad)
 * then RandomHorizontalFlip(0.5)): the draws of an example depend only on (seed, epoch, its index in the
 * split), so N ranks augment exactly as one rank does. */
struct ds_augment { int pad; int flip; uint64_t seed; };
/* Augment pixels(n,c,h,w) in place; example i is split example idx[i] of epoch `epoch`. Zero padding. */
void ds_augment_images(uint8_t *pixels, int64_t n, int64_t c, int64_t h, int64_t w, const int64_t *idx, int64_t epoch,
                       const struct ds_augment *a);
/* The draws of one example: crop offsets dy, dx in [0, 2*pad], flip 0/1. */
void ds_augment_draw(const struct ds_augment *a, int64_t epoch, int64_t index, int *dy, int *dx, int *flip);

/* Background prefetch thread over a reader + sampler, triple buffered. The loader walks a private copy of
 * the sampler; each ds_loader_next writes the position after the batch it returns back into *s, so
 * (s->epoch, s->pos) is always exact for a checkpoint. Changing s->epoch/pos between calls (set_epoch,
 * a restore) discards the prefetched batches and continues from there. */
struct ds_loader;
/* Start prefetching; block = text window length - 1, pairs max_len (0: the dataset's), 0 for images. */
nn_status ds_loader_start(struct ds_loader **L, struct ds_reader *r, struct ds_sampler *s, int64_t batch, int64_t block);
/* The next batch of this epoch (valid until the next call); n < batch at the end with !drop_last, n == 0
 * marks the end of the epoch, after which the next epoch begins. Errors of the thread come back here. */
nn_status ds_loader_next(struct ds_loader *L, struct ds_batch **b);
/* ds_loader_start with augmentation of image batches (aug NULL, or pad 0 and flip 0: none). */
nn_status ds_loader_start_aug(struct ds_loader **L, struct ds_reader *r, struct ds_sampler *s, int64_t batch, int64_t block,
                              const struct ds_augment *aug);
/* Stop the thread and free the buffers (the reader and sampler stay the caller's). */
void ds_loader_stop(struct ds_loader *L);

#endif
