/* CPU kernels of the dropout ops. */
#include "../ops/dropout.h"

const struct nn_k_dropout nn_cpu_dropout = {0};
