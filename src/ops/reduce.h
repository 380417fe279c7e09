/* reduce ops: builders (forward + tape node) and the kernel table they call. */
#ifndef NN_OPS_REDUCE_H
#define NN_OPS_REDUCE_H
#include "../nn_graph.h"

/* Kernels of this family; every backend provides one instance (nn_cpu_reduce, ...). */
struct nn_k_reduce {
  int placeholder_; /* TODO: replace with the kernels of this family */
};

#endif
