/* Gradient-check cases of the rope ops. */
#include "gradcheck.h"

const struct gc_case gc_rope[] = {
    {0},
};
