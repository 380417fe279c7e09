/* Gradient-check cases of the binary ops. */
#include "gradcheck.h"

const struct gc_case gc_binary[] = {
    {0},
};
