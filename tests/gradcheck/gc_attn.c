/* Gradient-check cases of the attn ops. */
#include "gradcheck.h"

const struct gc_case gc_attn[] = {
    {0},
};
