/* Gradient-check cases of the dropout ops. */
#include "gradcheck.h"

const struct gc_case gc_dropout[] = {
    {0},
};
