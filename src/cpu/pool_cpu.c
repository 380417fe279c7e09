/* CPU kernels of the pool ops. */
#include "../ops/pool.h"

const struct nn_k_pool nn_cpu_pool = {0};
