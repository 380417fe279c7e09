/* binary ops: elementwise add, sub, mul with numpy broadcasting of b onto a, and scale. */
#ifndef NN_OPS_BINARY_H
#define NN_OPS_BINARY_H
#include "../nn_graph.h"

struct nn_backend;

/* Elementwise operation selector for the binary kernels. */
enum nn_bin_op { NN_BIN_ADD = 0, NN_BIN_SUB, NN_BIN_MUL };

/* Arguments of the binary kernels. */
struct nn_binary_args {
  enum nn_bin_op op;
  int accumulate;            /* apply: out += instead of = */
  int64_t shape[4], bstr[4]; /* a's (merged) shape and b's element strides (0 where b broadcasts) */
  float alpha;               /* reduce: factor */
  float s;                   /* scale: factor */
  int64_t n;                 /* scale: elements */
  float *out;                /* apply, scale: output (may alias a) */
  const float *a, *b;        /* operands (scale reads a; reduce reads a or NULL for 1) */
  float *db;                 /* reduce: += */
  const float *dy;           /* reduce: upstream gradient (shape) */
};

/* Kernels of this family; every backend provides one instance (nn_cpu_binary, ...). */
struct nn_k_binary {
  /* out(shape) = [out +] a(shape) op b(bstr) */
  void (*apply)(const struct nn_backend *be, const struct nn_binary_args *a);
  /* db(bstr) += alpha * sum over the broadcast dims of dy(shape) * (a ? a(shape) : 1) */
  void (*reduce)(const struct nn_backend *be, const struct nn_binary_args *a);
  /* out(n) = s * a(n) */
  void (*scale)(const struct nn_backend *be, const struct nn_binary_args *a);
};

/* out(a's shape) = a + b, b broadcast onto a (numpy rules, b's dims right-aligned, each equal or 1). */
struct nn_tensor *nn_add(struct nn_graph *g, struct nn_tensor *a, struct nn_tensor *b);
/* out(a's shape) = a - b, b broadcast onto a. */
struct nn_tensor *nn_sub(struct nn_graph *g, struct nn_tensor *a, struct nn_tensor *b);
/* out(a's shape) = a * b, b broadcast onto a. */
struct nn_tensor *nn_mul(struct nn_graph *g, struct nn_tensor *a, struct nn_tensor *b);
/* out(a's shape) = a * s. */
struct nn_tensor *nn_scale(struct nn_graph *g, struct nn_tensor *a, float s);

#endif
