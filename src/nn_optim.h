/* nn_optim: optimizers (SGD, Adam, AdamW), gradient clipping and learning-rate schedules,
 * all running over the flat parameter / gradient / state buffers. */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H
#include "nn_params.h"

/* Kernels of the optimizers; every backend provides one instance (nn_cpu_optim, ...). */
struct nn_k_optim {
  int placeholder_; /* TODO: replace with the optimizer kernels */
};

#endif
