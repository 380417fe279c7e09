/* activation ops: relu, gelu (tanh and erf forms), silu, sigmoid, tanh; out has x's shape. */
#ifndef NN_OPS_ACT_H
#define NN_OPS_ACT_H
#include "../nn_graph.h"

struct nn_backend;


/* Arguments of the act kernels (forward: y, x; backward: dx, dy, x, y). */
struct nn_act_args {
  enum nn_op f;  /* which activation: its op (NN_OP_RELU, ...) */
  int64_t n;     /* elements */
  float *y;      /* forward output */
  const float *x;
  float *dx;     /* backward: += */
  const float *dy;
};

/* Kernels of this family; every backend provides one instance (nn_cpu_act, ...). */
struct nn_k_act {
  /* y(n) = f(x(n)) */
  void (*forward)(const struct nn_backend *be, const struct nn_act_args *a);
  /* dx(n) += dy(n) * f'(x(n)), where y = f(x) is the forward output */
  void (*backward)(const struct nn_backend *be, const struct nn_act_args *a);
};

/* y = max(x, 0). */
struct nn_tensor *nn_relu(struct nn_graph *g, struct nn_tensor *x);
/* y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), torch GELU(approximate='tanh'). */
struct nn_tensor *nn_gelu_tanh(struct nn_graph *g, struct nn_tensor *x);
/* y = 0.5 x (1 + erf(x / sqrt(2))), torch GELU() default. */
struct nn_tensor *nn_gelu_erf(struct nn_graph *g, struct nn_tensor *x);
/* y = x * sigmoid(x). */
struct nn_tensor *nn_silu(struct nn_graph *g, struct nn_tensor *x);
/* y = 1 / (1 + exp(-x)). */
struct nn_tensor *nn_sigmoid(struct nn_graph *g, struct nn_tensor *x);
/* y = tanh(x). */
struct nn_tensor *nn_tanh(struct nn_graph *g, struct nn_tensor *x);

#endif
