/* CPU kernels of the rope ops. */
#include "../ops/rope.h"

const struct nn_k_rope nn_cpu_rope = {0};
