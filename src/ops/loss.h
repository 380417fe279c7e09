/* loss ops: builders (forward + tape node) and the kernel table they call. */
#ifndef NN_OPS_LOSS_H
#define NN_OPS_LOSS_H
#include "../nn_graph.h"

/* Kernels of this family; every backend provides one instance (nn_cpu_loss, ...). */
struct nn_k_loss {
  int placeholder_; /* TODO: replace with the kernels of this family */
};

#endif
