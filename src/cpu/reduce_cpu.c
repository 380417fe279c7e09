/* CPU kernels of the reduce ops. */
#include "../ops/reduce.h"

const struct nn_k_reduce nn_cpu_reduce = {0};
