/* binary ops: forward, backward and shape checks, calling kernels through g->be->binary. */
#include "binary.h"
#include "../nn_backend.h"
