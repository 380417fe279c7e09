/* shape ops: forward, backward and shape checks, calling kernels through g->be->shape. */
#include "shape.h"
#include "../nn_backend.h"
