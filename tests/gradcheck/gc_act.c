/* Gradient-check cases of the act ops. */
#include "gradcheck.h"

const struct gc_case gc_act[] = {
    {0},
};
