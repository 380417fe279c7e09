/* rope ops: builders (forward + tape node) and the kernel table they call. */
#ifndef NN_OPS_ROPE_H
#define NN_OPS_ROPE_H
#include "../nn_graph.h"

/* Kernels of this family; every backend provides one instance (nn_cpu_rope, ...). */
struct nn_k_rope {
  int placeholder_; /* TODO: replace with the kernels of this family */
};

#endif
