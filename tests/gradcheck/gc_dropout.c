/* Gradient-check cases of dropout (the mask is fixed by seed and step, so differences work). */
#include "gradcheck.h"

#define S NN_SHAPE
static struct nn_tensor *drop(struct nn_graph *g, struct gc_ctx *c) {
  return nn_dropout(g, gc_input(c, g, 3, S(3, 5, 7), 1), 0.3f);
}
/* several examples per work item and items that start inside an example */
static struct nn_tensor *drop_big(struct nn_graph *g, struct gc_ctx *c) {
  return nn_dropout(g, gc_input(c, g, 2, S(9, 3001), 1), 0.5f);
}
/* second dropout of the step: its own stream */
static struct nn_tensor *drop_twice(struct nn_graph *g, struct gc_ctx *c) {
  return nn_dropout(g, nn_dropout(g, gc_input(c, g, 2, S(4, 7), 1), 0.2f), 0.3f);
}

const struct gc_case gc_dropout[] = {
    {"dropout_p03", NN_OP_DROPOUT, drop},
    {"dropout_big", NN_OP_DROPOUT, drop_big},
    {"dropout_twice", NN_OP_DROPOUT, drop_twice},
    {0},
};
