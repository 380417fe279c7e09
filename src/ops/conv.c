/* conv ops: forward, backward and shape checks, calling kernels through g->be->conv. */
#include "conv.h"
#include "../nn_backend.h"
