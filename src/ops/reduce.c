/* reduce ops: forward, backward and shape checks, calling kernels through g->be->reduce. */
#include "reduce.h"
#include "../nn_backend.h"
