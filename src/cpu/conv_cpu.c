/* CPU kernels of the conv ops. */
#include "../ops/conv.h"

const struct nn_k_conv nn_cpu_conv = {0};
