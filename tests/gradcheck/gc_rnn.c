/* Gradient-check cases of the rnn ops. */
#include "gradcheck.h"

const struct gc_case gc_rnn[] = {
    {0},
};
