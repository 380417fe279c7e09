/* export: parameters to one plain HDF5 file, a dataset per named parameter (h5py-friendly).
 * In Python:  f = h5py.File("model.h5"); w = f["blocks.0.attn.query.weight"][...];
 *             cfg = json.loads(f.attrs["config"]). */
#ifndef EXPORT_H
#define EXPORT_H
#include <stddef.h>
#include "cfg.h"
#include "ds.h"
#include "nn_params.h"

/* Write every parameter of P as dataset "<dotted name>" (float32, its shape) to path, with the
 * configuration as root attributes and the decoding metadata meta (vocabulary, special ids, class
 * names: attributes data.*, src/task.h; NULL = none), so the file serves generate / evaluation alone;
 * written to path.tmp and renamed, so path is never partial. */
nn_status export_params(const struct nn_params *P, const struct cfg *c, const struct ds_meta *meta, const char *path);

/* Write the n tensors of table (name, t.ndim, t.shape, offset into the host array data) to path as
 * export_params does, with root attributes format, model, config (JSON), if step >= 0 step, and
 * attributes data.* from meta unless NULL. */
nn_status export_write(const char *path, const struct nn_param *table, int n, const float *data, const char *model,
                       const char *config_json, int64_t step, const struct ds_meta *meta);

/* Model name and configuration JSON of export path; NN_ERR_FORMAT if it is not an export. */
nn_status export_read_info(const char *path, char *model, size_t mlen, char *config_json, size_t jlen);

#endif
