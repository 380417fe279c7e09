/* pool ops: forward, backward and shape checks, calling kernels through g->be->pool. */
#include "pool.h"
#include "../nn_backend.h"
