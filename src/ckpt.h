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
 * and DIR/latest is a symlink to the newest step directory. Every dataset is chunked with a
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
  const struct ds_meta *data;            /* ckpt_save: decoding metadata written to meta.h5 as attributes data.*
                                          * (src/task.h, task_meta_read); NULL: none. Not filled by reads. */
};

/* Write DIR/step_%08lld (meta.h5 + one shard per rank) under a temporary name, flush, agree on
 * success, rename it into place, point DIR/latest at it and remove all but the keep newest step
 * directories (keep <= 0: keep all; the one just written is never removed). On any rank's failure
 * (unwritable directory, full disk) the temporary directory is removed and earlier checkpoints are
 * untouched; every rank returns the error. o may be NULL (no optimizer state). Collective. */
nn_status ckpt_save(struct comm *c, const char *dir, const struct ckpt_state *s, const struct nn_params *P,
                    const struct nn_optim *o, int keep);

/* The checkpoint to resume from, into out (len bytes), identical on every rank. is_auto: the newest
 * complete and readable checkpoint of the directory dir_or_path (every shard verified, in parallel);
 * a damaged one is skipped with a message on rank 0 saying which and why. Otherwise dir_or_path is
 * a checkpoint directory, or a checkpoint root whose `latest` is taken. NN_ERR_IO if none. Collective. */
nn_status ckpt_resolve(struct comm *c, const char *dir_or_path, int is_auto, char *out, size_t len);

/* Load checkpoint path into the allocated P (and the optimizer o unless NULL, including o->t) and fill
 * s. The parameter table (names, shapes, order, trainable flags), the model name (see s->model) and
 * the optimizer kind must match. Each rank reads its share from whichever shards hold it and the
 * shares are broadcast, so the writer's rank count may differ from c->size. Errors name the file;
 * every rank returns an error if any failed. Collective. */
nn_status ckpt_load(struct comm *c, const char *path, struct ckpt_state *s, struct nn_params *P,
                    struct nn_optim *o);

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
