/* rope ops: forward, backward and shape checks, calling kernels through g->be->rope. */
#include "rope.h"
#include "../nn_backend.h"
