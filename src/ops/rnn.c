/* rnn ops: forward, backward and shape checks, calling kernels through g->be->rnn. */
#include "rnn.h"
#include "../nn_backend.h"
