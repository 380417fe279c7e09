/* ckpt: sharded HDF5 checkpoints of the flat parameter and optimizer buffers (docs/ARCHITECTURE.md, "Files on
 * disk"), resume on any rank count, export to one plain HDF5 file and import by parameter name.
 *
 * On disk, DIR/step_00001000/ holds
 *   meta.h5                       root attributes (format "attn_train-checkpoint", version 1, model,
 *                                 config, step, epoch, sampler_epoch, sampler_offset, seed, nranks,
 *                                 optimizer, optimizer_t, total, trainable, has_opt_m, has_opt_v) and
 *                                 the compound dataset "params" (name, ndim, shape[4], offset, numel,
 *                                 trainable, decay, buffer): the parameter table in flat-buffer order;
 *   shard-RRRRR-of-NNNNN.h5       rank R's slice [R*n/N, (R+1)*n/N) of each flat buffer as 1-D float32
 *                                 datasets "params" (n = total), "opt_m", "opt_v" (n = trainable), each
 *                                 with attributes start, count, total;
 * (version 2) meta.h5 also holds run_id, seq and time_us (the lineage, write sequence and time of the
 * checkpoint) and the dataset "shards" (nranks x 2 int64: each shard's size in bytes and CRC-32);
 * meta.h5 is written after every shard, so "complete" means: meta.h5 readable and every shard
 * present with the recorded size and CRC-32. DIR/latest is a symlink to the newest step directory. Every dataset is chunked with a
 * Fletcher32 checksum (a flipped byte is a read error); files use the latest format, so a file whose
 * writer was killed refuses to open. A checkpoint is written as DIR/step_00001000.tmp and renamed
 * once every rank has flushed its files: a step_ directory is always complete.
 * The collective calls wait at least 1800 s (or c->timeout_s if longer or 0) for the slowest rank's I/O. */
#ifndef CKPT_H
#define CKPT_H
#include <stdint.h>
#include <stdio.h>
#include "comm.h"
#include "ds.h"
#include "nn_optim.h"
#include "nn_params.h"

/* Everything a checkpoint holds besides the flat buffers. */
struct ckpt_state {
  int64_t step;                          /* optimizer steps completed */
  int64_t epoch;                         /* epoch in progress */
  int64_t sampler_epoch, sampler_offset; /* global examples of sampler_epoch consumed by all ranks together */
  uint64_t seed;
  char model[64];                        /* ckpt_load: if non-empty on entry, the checkpoint's must equal it */
  char config_json[8192];                /* the run configuration as JSON (cfg_write_json) */
  int nranks;                            /* ranks that wrote the checkpoint (filled by ckpt_save / ckpt_load) */
  char run_id[40];                       /* lineage of the checkpoint (filled by ckpt_load; ckpt_save ignores it) */
  int64_t seq;                           /* its write sequence number in that lineage (filled by ckpt_load) */
  const struct ds_meta *data;            /* ckpt_save: decoding metadata written to meta.h5 as attributes data.*
                                          * (src/task.h, task_meta_read); NULL: none. Not filled by reads. */
};

/* Write DIR/step_%08lld (shards, then meta.h5) under a temporary name, flush, agree on success,
 * rename it into place (an existing copy of the same step is kept as step_N.old until then), point
 * DIR/latest at it and remove all but the keep newest step directories of this run's lineage
 * (keep <= 0: keep all; the one just written is never removed; other runs' checkpoints are never
 * touched). A kill -9 at any point leaves a complete checkpoint for ckpt_resolve to find. On any rank's failure
 * (unwritable directory, full disk) the temporary directory is removed and earlier checkpoints are
 * untouched; every rank returns the error. o may be NULL (no optimizer state). Collective. */
nn_status ckpt_save(struct comm *c, const char *dir, const struct ckpt_state *s, const struct nn_params *P,
                    const struct nn_optim *o, int keep);

/* The checkpoint to resume from, into out (len bytes), identical on every rank. is_auto: the target
 * of dir_or_path/latest if it is complete, else the complete checkpoint (step_N or step_N.old) that
 * was written last (meta.h5's time, then seq), whatever its step number; every shard's size and
 * CRC-32 are checked, in parallel; each one skipped is reported on rank 0 with the reason. Otherwise dir_or_path is
 * a checkpoint directory, or a checkpoint root whose `latest` is taken. NN_ERR_IO if none. Collective. */
nn_status ckpt_resolve(struct comm *c, const char *dir_or_path, int is_auto, char *out, size_t len);

/* Load checkpoint path into the allocated P (and the optimizer o unless NULL, including o->t) and fill
 * s. The parameter table (names, shapes, order, trainable flags), the model name (see s->model) and
 * the optimizer kind must match. Each rank reads its share from whichever shards hold it and the
 * shares are broadcast, so the writer's rank count may differ from c->size. Errors name the file;
 * every rank returns an error if any failed. Collective. */
nn_status ckpt_load(struct comm *c, const char *path, struct ckpt_state *s, struct nn_params *P,
                    struct nn_optim *o);

/* Bytes one checkpoint of P (and o) written by nranks ranks takes on disk, at most. */
int64_t ckpt_bytes(const struct nn_params *P, const struct nn_optim *o, int nranks);

/* Set-up checks, before the first step (local; every rank may call it): --resume PATH names a
 * checkpoint (meta.h5, or a root with latest), --resume auto has a --ckpt-dir, and --ckpt-dir can be
 * created and written and has room for one checkpoint (ckpt_bytes). NN_ERR_ARG naming the flag. */
nn_status ckpt_check_setup(const char *ckpt_dir, const char *resume, int rank, const struct nn_params *P,
                           const struct nn_optim *o, int nranks);

/* Forget this process's lineage (the run id adopted by ckpt_load or drawn by the first ckpt_save):
 * the next ckpt_save starts a new run. For tests that simulate several runs in one process. */
void ckpt_lineage_reset(void);

/* attn_train ckpt list ROOT: one line per checkpoint directory of ROOT (step, time, ranks, model,
 * run id, seq, complete or why not), newest first, `latest` marked. NN_OK even if some are damaged. */
nn_status ckpt_list(const char *root, FILE *out);

/* attn_train ckpt verify PATH: every checkpoint of PATH (a step directory, or each one of a root):
 * meta.h5, every shard's size and CRC-32, every dataset read (Fletcher32), and the parameter table
 * against the model built from the checkpoint's configuration (needs its dataset's meta, from
 * data_dir or the configured --data; without it that part is reported as not checked). Writes one
 * line per checkpoint; *bad = how many failed. */
nn_status ckpt_verify(const char *path, const char *data_dir, FILE *out, int *bad);

/* attn_train ckpt raw CKPT OUT: params, opt_m, opt_v (those present) of checkpoint CKPT as raw
 * little-endian float32, in flat-buffer order, preceded by nothing: two checkpoints of the same
 * state give byte-identical files whatever their rank counts (compare with cmp). */
nn_status ckpt_dump_raw(const char *ckpt_path, const char *out);

/* Read only the state of checkpoint path (a step directory, or a root whose `latest` is taken):
 * model, configuration, step. No MPI, no parameters. */
nn_status ckpt_read_state(const char *path, struct ckpt_state *s);

/* Export the parameters of checkpoint ckpt_path to one plain HDF5 file out_h5: a float32 dataset per
 * dotted parameter name, root attributes format, model, config (JSON) and step. No MPI needed. */
nn_status ckpt_export(const char *ckpt_path, const char *out_h5);

/* What ckpt_import did, counted over parameters of the model (matched, missing, mismatched) and
 * over datasets of the file (unused). */
struct ckpt_import_report {
  int matched;    /* same name and shape: copied */
  int missing;    /* in the model, not in the file */
  int mismatched; /* in both with another shape: left as initialised */
  int unused;     /* datasets of the file that match no parameter */
};

/* --init-from: copy every dataset of h5_path (an export, or a PyTorch state_dict written with one
 * dataset per dotted name; groups a/b/c read as a.b.c) whose name and shape match a parameter of P
 * into P. Fills r and, if report is non-NULL, writes what matched, what was missing, what had another
 * shape and what was unused, with names. NN_OK even when nothing matched (check r). Host side, no MPI. */
nn_status ckpt_import(struct nn_params *P, const char *h5_path, struct ckpt_import_report *r, FILE *report);

#endif
