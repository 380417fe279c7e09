/* Gradient-check cases of the bnorm ops. */
#include "gradcheck.h"

const struct gc_case gc_bnorm[] = {
    {0},
};
