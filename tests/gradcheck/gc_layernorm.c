/* Gradient-check cases of the layernorm ops. */
#include "gradcheck.h"

const struct gc_case gc_layernorm[] = {
    {0},
};
