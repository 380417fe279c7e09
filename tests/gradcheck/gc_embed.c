/* Gradient-check cases of the embed ops. */
#include "gradcheck.h"

const struct gc_case gc_embed[] = {
    {0},
};
