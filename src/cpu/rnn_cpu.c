/* CPU kernels of the rnn ops. */
#include "../ops/rnn.h"

const struct nn_k_rnn nn_cpu_rnn = {0};
