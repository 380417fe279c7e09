/* CPU kernels of the optimizers. */
#include "../nn_optim.h"

const struct nn_k_optim nn_cpu_optim = {0};
