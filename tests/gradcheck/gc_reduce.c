/* Gradient-check cases of the reduce ops. */
#include "gradcheck.h"

const struct gc_case gc_reduce[] = {
    {0},
};
