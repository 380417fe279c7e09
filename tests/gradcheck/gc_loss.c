/* Gradient-check cases of the loss ops. */
#include "gradcheck.h"

const struct gc_case gc_loss[] = {
    {0},
};
