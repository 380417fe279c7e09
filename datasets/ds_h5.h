/* ds_h5: the process-wide HDF5 lock (the library is not thread-safe) and attribute helpers. */
#ifndef DS_H5_H
#define DS_H5_H
#include <hdf5.h>
#include <stdint.h>
#include "nn_status.h"

/* Take the process-wide HDF5 mutex (recursive); hold it around every HDF5 call while a loader may run.
 * While held, HDF5's automatic error printing is off (errors become nn_fail messages). */
void ds_h5_lock(void);
/* Release the HDF5 mutex (restores HDF5's error printing at the outermost level). */
void ds_h5_unlock(void);
/* The innermost message of HDF5's current error stack ("" if none); call with the lock held. */
const char *ds_h5_errdesc(void);

/* Before H5Dread of dataset d (file `path`, dataset `name`): a compact dataset must store exactly its
 * dataspace's elements x its type's size. HDF5 1.10 before 1.10.10 reads past (or from NULL) a compact buffer
 * that a damaged layout message made smaller than that (HDF5 GitHub #2606); NN_ERR_FORMAT naming both. */
nn_status ds_h5_check_layout(hid_t d, const char *path, const char *name);
/* Dataset d holds numbers: an integer or floating-point element type of at most 8 bytes (a damaged type of
 * gigabytes makes HDF5 allocate its conversion buffers by that size before it fails); NN_ERR_FORMAT otherwise. */
nn_status ds_h5_check_numeric(hid_t d, const char *path, const char *name);

/* File access property list for dataset shards (newer format: large attributes, small sieve buffer). */
hid_t ds_h5_fapl(void);

/* Write root attributes: a UTF-8 string, an int64 scalar, an int64 vector, a vector of UTF-8 strings. */
nn_status ds_attr_put_str(hid_t loc, const char *path, const char *name, const char *value);
nn_status ds_attr_put_i64(hid_t loc, const char *path, const char *name, int64_t v);
nn_status ds_attr_put_i64v(hid_t loc, const char *path, const char *name, const int64_t *v, int64_t n);
nn_status ds_attr_put_f64v(hid_t loc, const char *path, const char *name, const double *v, int64_t n);
nn_status ds_attr_put_strv(hid_t loc, const char *path, const char *name, char *const *v, int64_t n);

/* Read attributes (messages name `path` and the attribute): a string into buf, an integer scalar, an
 * integer vector of exactly n, a string vector (malloc'd array of malloc'd strings, *n set). */
nn_status ds_attr_get_str(hid_t loc, const char *path, const char *name, char *buf, size_t size);
nn_status ds_attr_get_i64(hid_t loc, const char *path, const char *name, int64_t *v);
nn_status ds_attr_get_i64v(hid_t loc, const char *path, const char *name, int64_t *v, int64_t n);
nn_status ds_attr_get_f64v(hid_t loc, const char *path, const char *name, double *v, int64_t n);
nn_status ds_attr_get_strv(hid_t loc, const char *path, const char *name, char ***v, int64_t *n);
/* Free a string vector from ds_attr_get_strv. */
void ds_strv_free(char **v, int64_t n);

#endif
