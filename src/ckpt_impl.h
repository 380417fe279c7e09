/* ckpt_impl: the checkpoint files (meta.h5 and shards), shared by ckpt.c and ckpt_import.c.
 * Not part of the public API. Every function here takes the HDF5 lock itself. */
#ifndef CKPT_IMPL_H
#define CKPT_IMPL_H
#include "ckpt.h"

#define CKPT_PATH 1024            /* longest path handled */
#define CKPT_FORMAT "attn_train-checkpoint"
#define CKPT_SHARD_FORMAT "attn_train-checkpoint-shard"
#define CKPT_VERSION 2            /* 2: run_id, seq, time and the shard table in meta.h5; 1 is still read */
#define CKPT_CHUNK ((int64_t)1 << 20) /* elements per chunk of a shard dataset (4 MiB) */

/* The flat buffers a checkpoint may hold. */
enum ckpt_buf { CKPT_PARAMS, CKPT_OPT_M, CKPT_OPT_V, CKPT_NBUF };

/* Everything in meta.h5. */
struct ckpt_meta {
  struct ckpt_state s;
  int64_t total, trainable;    /* elements of the params buffer and of opt_m / opt_v */
  char optimizer[16];          /* nn_optim_name of the kind, or "none" */
  int64_t opt_t;               /* optimizer updates taken */
  int has[CKPT_NBUF];          /* which buffers the shards hold */
  int version;                 /* format version read (CKPT_VERSION when written) */
  double time;                 /* when it was written (seconds since 1970; 0 in version 1) */
  int64_t *shard_bytes;        /* s.nranks entries (malloc'd; NULL in version 1): each shard's size, */
  uint32_t *shard_crc;         /* and the CRC-32 of its bytes */
  struct nn_param *table;      /* n entries: name, t.ndim / t.shape / t.numel, offset, flags (malloc'd) */
  int n;
};

/* Dataset name of buffer b ("params", "opt_m", "opt_v"). */
const char *ckpt_buf_name(enum ckpt_buf b);
/* Elements of buffer b: m->total for params, m->trainable otherwise. */
int64_t ckpt_buf_len(const struct ckpt_meta *m, enum ckpt_buf b);
/* First element of rank r's slice of n elements split over size ranks. */
static inline int64_t ckpt_slice_start(int64_t n, int r, int size) { return n * r / size; }

/* Write dir/meta.h5 (flushed to disk) from m (m->table over m->n). */
nn_status ckpt_meta_write(const char *dir, const struct ckpt_meta *m);
/* Read dir/meta.h5 into m (table malloc'd); errors name the file. */
nn_status ckpt_meta_read(const char *dir, struct ckpt_meta *m);
/* Free m->table. */
void ckpt_meta_free(struct ckpt_meta *m);
/* Path of shard r of n in dir. */
void ckpt_shard_path(char *out, size_t len, const char *dir, int r, int n);

/* One buffer's slice [start, start+count) of total elements; x points at its first element. */
struct ckpt_slice {
  const float *x;
  int64_t start, count, total;
};
/* Bytes a shard of `elements` floats takes on disk, at most. */
int64_t ckpt_shard_bytes(int64_t elements);
/* Write shard r of n to dir: the slices of the buffers with sl[b].x non-NULL, x in memory of backend be
 * (copied out through a small bounce buffer), flushed to disk. */
nn_status ckpt_shard_write(const char *dir, int r, int n, int64_t step, const struct ckpt_slice sl[CKPT_NBUF],
                           const struct nn_backend *be);
/* Read elements [a, b) of buffer which into host + a, from whichever shards of checkpoint dir hold them. */
nn_status ckpt_read_range(const char *dir, const struct ckpt_meta *m, enum ckpt_buf which, int64_t a, int64_t b,
                          float *host);
/* Open shard r of checkpoint dir and read every dataset in full (checksums verified). */
nn_status ckpt_shard_verify(const char *dir, const struct ckpt_meta *m, int r);

/* Size and CRC-32 (zlib) of the bytes of file path. */
nn_status ckpt_file_crc(const char *path, int64_t *bytes, uint32_t *crc);
/* Checkpoint dir is complete: meta.h5 readable (into m, caller frees) and every shard present with the
 * size and CRC-32 meta.h5 records (version 1: every dataset of every shard read, Fletcher32 checked).
 * Shards r = first, first+stride, ... only (a rank's share when verifying in parallel). */
nn_status ckpt_check_complete(const char *dir, struct ckpt_meta *m, int first, int stride);

/* path itself if it holds meta.h5, else the target of path/latest, into out (no MPI). */
nn_status ckpt_resolve_path(const char *path, char *out, size_t len);
/* fsync a file or a directory; NN_ERR_IO naming it. */
nn_status ckpt_fsync(const char *path);

#endif
