/* Gradient-check cases of the activation ops. */
#include "gradcheck.h"

#define S NN_SHAPE
static struct nn_tensor *relu(struct nn_graph *g, struct gc_ctx *c) { return nn_relu(g, gc_input_away(c, g, 3, S(3, 5, 7), 0.05f)); }
static struct nn_tensor *gelu_tanh(struct nn_graph *g, struct gc_ctx *c) { return nn_gelu_tanh(g, gc_input(c, g, 3, S(3, 5, 7), 2)); }
static struct nn_tensor *gelu_erf(struct nn_graph *g, struct gc_ctx *c) { return nn_gelu_erf(g, gc_input(c, g, 3, S(3, 5, 7), 2)); }
static struct nn_tensor *silu(struct nn_graph *g, struct gc_ctx *c) { return nn_silu(g, gc_input(c, g, 3, S(3, 5, 7), 2)); }
static struct nn_tensor *sigmoid(struct nn_graph *g, struct gc_ctx *c) { return nn_sigmoid(g, gc_input(c, g, 3, S(3, 5, 7), 2)); }
static struct nn_tensor *tanh_(struct nn_graph *g, struct gc_ctx *c) { return nn_tanh(g, gc_input(c, g, 3, S(3, 5, 7), 1.5f)); }
/* threaded path, several chunks */
static struct nn_tensor *gelu_big(struct nn_graph *g, struct gc_ctx *c) { return nn_gelu_tanh(g, gc_input(c, g, 2, S(7, 3001), 2)); }

const struct gc_case gc_act[] = {
    {"relu", NN_OP_RELU, relu},
    {"gelu_tanh", NN_OP_GELU_TANH, gelu_tanh},
    {"gelu_tanh_big", NN_OP_GELU_TANH, gelu_big},
    {"gelu_erf", NN_OP_GELU_ERF, gelu_erf},
    {"silu", NN_OP_SILU, silu},
    {"sigmoid", NN_OP_SIGMOID, sigmoid},
    {"tanh", NN_OP_TANH, tanh_},
    {0},
};
