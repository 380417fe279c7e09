/* nn_fs: small file-system helpers shared by the trainer, checkpoints and converters. */
#ifndef NN_FS_H
#define NN_FS_H
#include "nn_status.h"

/* mkdir -p path; errors name `what` (e.g. "checkpoint") and the component that failed. */
nn_status nn_mkdirs(const char *path, const char *what);
/* mkdir -p of the directory that will hold path (nothing when path has no '/'). */
nn_status nn_mkdirs_parent(const char *path, const char *what);

#endif
