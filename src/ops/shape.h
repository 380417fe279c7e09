/* shape ops: builders (forward + tape node) and the kernel table they call. */
#ifndef NN_OPS_SHAPE_H
#define NN_OPS_SHAPE_H
#include "../nn_graph.h"

/* Kernels of this family; every backend provides one instance (nn_cpu_shape, ...). */
struct nn_k_shape {
  int placeholder_; /* TODO: replace with the kernels of this family */
};

#endif
