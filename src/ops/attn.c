/* attn ops: forward, backward and shape checks, calling kernels through g->be->attn. */
#include "attn.h"
#include "../nn_backend.h"
