/* export: parameters to one plain HDF5 file, a dataset per named parameter (h5py-friendly).
 * In Python:  f = h5py.File("model.h5"); w = f["blocks.0.attn.query.weight"][...];
 *             cfg = json.loads(f.attrs["config"]). */
#ifndef EXPORT_H
#define EXPORT_H
#include "cfg.h"
#include "nn_params.h"

/* Write every parameter of P as dataset "<dotted name>" (float32, its shape) to path, with the
 * configuration as root attributes; written to path.tmp and renamed, so path is never partial. */
nn_status export_params(const struct nn_params *P, const struct cfg *c, const char *path);

/* Write the n tensors of table (name, t.ndim, t.shape, offset into the host array data) to path as
 * export_params does, with root attributes format, model, config (JSON) and, if step >= 0, step. */
nn_status export_write(const char *path, const struct nn_param *table, int n, const float *data, const char *model,
                       const char *config_json, int64_t step);

#endif
