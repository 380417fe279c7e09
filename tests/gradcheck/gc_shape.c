/* Gradient-check cases of the shape ops. */
#include "gradcheck.h"

const struct gc_case gc_shape[] = {
    {0},
};
