/* ds_internal: format constants and helpers shared by the reader, writer, converters and verify. */
#ifndef DS_INTERNAL_H
#define DS_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "ds.h"

#define DS_FORMAT_NAME "attn_train.dataset"
#define DS_FORMAT_VERSION 1
#define DS_PATH_MAX 4096
#define DS_DIR_MAX 3072 /* a dataset directory path; shard paths append a file name */
#define DS_MAX_SPLITS 16

/* Dataset names inside a shard, per kind. */
#define DS_D_IMAGES "images"
#define DS_D_LABELS "labels"
#define DS_D_TOKENS "tokens"
#define DS_D_SRC "src_tokens"
#define DS_D_SRC_OFF "src_offsets"
#define DS_D_TGT "tgt_tokens"
#define DS_D_TGT_OFF "tgt_offsets"
#define DS_D_FEATURES "features"

/* "image", "text", "pairs", "features". */
const char *ds_kind_name(enum ds_kind k);
/* Kind from its name; -1 when unknown. */
int ds_kind_parse(const char *name);
/* buf = "<split>-<index:05>-of-<count:05>.h5". */
void ds_shard_name(char *buf, size_t size, const char *split, int index, int count);
/* Parse a shard file name; 0 on success (split gets up to 15 chars of [a-z0-9_]). */
int ds_shard_parse(const char *fname, char split[16], int *index, int *count);
/* A split name is 1-15 chars of [a-z0-9_]. */
int ds_split_name_ok(const char *split);
/* Free the string arrays of a ds_meta (the struct itself is the caller's). */
void ds_meta_free(struct ds_meta *m);
/* out(n, len) = the token windows [starts[i], starts[i]+len) of the text stream, one union read per shard. */
nn_status ds_read_windows(struct ds_reader *r, const int64_t *starts, int64_t n, int64_t len, int32_t *out);
/* Byte size of all shard files of the open split. */
int64_t ds_reader_bytes(const struct ds_reader *r);

#endif
