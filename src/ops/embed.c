/* embed ops: forward, backward and shape checks, calling kernels through g->be->embed. */
#include "embed.h"
#include "../nn_backend.h"
