/* Gradient-check cases of the softmax ops. */
#include "gradcheck.h"

const struct gc_case gc_softmax[] = {
    {0},
};
