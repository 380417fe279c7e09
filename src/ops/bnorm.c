/* bnorm ops: forward, backward and shape checks, calling kernels through g->be->bnorm. */
#include "bnorm.h"
#include "../nn_backend.h"
