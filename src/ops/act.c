/* act ops: forward, backward and shape checks, calling kernels through g->be->act. */
#include "act.h"
#include "../nn_backend.h"
