/* CPU kernels of the layernorm ops. */
#include "../ops/layernorm.h"

const struct nn_k_layernorm nn_cpu_layernorm = {0};
