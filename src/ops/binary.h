/* binary ops: elementwise add, sub, mul with numpy broadcasting of b onto a, and scale. */
#ifndef NN_OPS_BINARY_H
#define NN_OPS_BINARY_H
#include "../nn_graph.h"

/* Elementwise operation selector for the binary kernels. */
enum nn_bin_op { NN_BIN_ADD = 0, NN_BIN_SUB, NN_BIN_MUL };

/* Kernels of this family; every backend provides one instance (nn_cpu_binary, ...).
 * Geometry: a is seen as shape[0..3] (row-major, contiguous); b has element stride bstr[k] along
 * dim k (0 where b broadcasts, 1 or more where it varies; bstr[3] is 0 or 1). */
struct nn_k_binary {
  /* out(shape) = [out +] a(shape) op b(bstr); accumulate selects +=; out may alias a */
  void (*apply)(float *out, const float *a, const float *b, enum nn_bin_op op, int accumulate,
                const int64_t shape[4], const int64_t bstr[4]);
  /* db(bstr) += alpha * sum over the broadcast dims of dy(shape) * (a ? a(shape) : 1) */
  void (*reduce)(float *db, const float *dy, const float *a, float alpha, const int64_t shape[4],
                 const int64_t bstr[4]);
  /* out(n) = s * x(n) */
  void (*scale)(float *out, const float *x, float s, int64_t n);
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
