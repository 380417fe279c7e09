/* CPU kernels of the attn ops. */
#include "../ops/attn.h"

const struct nn_k_attn nn_cpu_attn = {0};
