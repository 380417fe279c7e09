/* Gradient-check cases of the pool ops. */
#include "gradcheck.h"

const struct gc_case gc_pool[] = {
    {0},
};
