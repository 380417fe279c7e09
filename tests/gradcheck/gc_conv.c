/* Gradient-check cases of the conv ops. */
#include "gradcheck.h"

const struct gc_case gc_conv[] = {
    {0},
};
