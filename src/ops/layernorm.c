/* layernorm ops: forward, backward and shape checks, calling kernels through g->be->layernorm. */
#include "layernorm.h"
#include "../nn_backend.h"
