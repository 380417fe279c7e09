/* conv ops: builders (forward + tape node) and the kernel table they call. */
#ifndef NN_OPS_CONV_H
#define NN_OPS_CONV_H
#include "../nn_graph.h"

/* Kernels of this family; every backend provides one instance (nn_cpu_conv, ...). */
struct nn_k_conv {
  int placeholder_; /* TODO: replace with the kernels of this family */
};

#endif
