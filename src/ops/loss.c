/* loss ops: forward, backward and shape checks, calling kernels through g->be->loss. */
#include "loss.h"
#include "../nn_backend.h"
