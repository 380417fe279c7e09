/* dropout ops: forward, backward and shape checks, calling kernels through g->be->dropout. */
#include "dropout.h"
#include "../nn_backend.h"
