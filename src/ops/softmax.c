/* softmax ops: forward, backward and shape checks, calling kernels through g->be->softmax. */
#include "softmax.h"
#include "../nn_backend.h"
