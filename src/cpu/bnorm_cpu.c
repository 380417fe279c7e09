/* CPU kernels of the bnorm ops. */
#include "../ops/bnorm.h"

const struct nn_k_bnorm nn_cpu_bnorm = {0};
