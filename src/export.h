/* export: parameters to one plain HDF5 file, a dataset per named parameter (h5py-friendly). */
#ifndef EXPORT_H
#define EXPORT_H
#include "cfg.h"
#include "nn_params.h"

/* Write every parameter of P as dataset "<dotted name>" (float32, its shape) to path, with the
 * configuration as root attributes; written to path.tmp and renamed, so path is never partial. */
nn_status export_params(const struct nn_params *P, const struct cfg *c, const char *path);

#endif
