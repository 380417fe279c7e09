/* nn_tensor: contiguous row-major tensors (float32, or int32/int64 indices), up to 4 dimensions. */
#ifndef NN_TENSOR_H
#define NN_TENSOR_H
#include <stdint.h>
#include <stddef.h>
#include "nn_status.h"

#define NN_MAX_DIM 4

enum nn_dtype { NN_F32 = 0, NN_I32, NN_I64 };

struct nn_tensor {
  enum nn_dtype dtype;
  int ndim;
  int64_t shape[NN_MAX_DIM];
  int64_t numel;
  union {
    float *data;   /* NN_F32 */
    int32_t *i32;  /* NN_I32 */
    int64_t *i64;  /* NN_I64 */
    void *ptr;
  };
  float *grad;       /* gradient of the loss w.r.t. this tensor (same shape), or NULL */
  int requires_grad; /* a gradient flows into this tensor */
  int param_index;   /* index in the parameter table, or -1 */
  const char *name;  /* parameter name, or NULL */
};

/* Shorthand for shapes: NN_SHAPE(2, 3) -> (const int64_t[]){2, 3}. */
#define NN_SHAPE(...) ((const int64_t[]){__VA_ARGS__})

/* Size in bytes of one element of dtype. */
size_t nn_dtype_size(enum nn_dtype dt);
/* Fill shape/ndim/numel of t from ndim sizes (other fields untouched). */
void nn_tensor_set_shape(struct nn_tensor *t, int ndim, const int64_t *shape);
/* Write "(2,3,4)" into buf; returns buf. */
char *nn_shape_str(const struct nn_tensor *t, char *buf, size_t len);
/* 1 if a and b have identical shapes. */
int nn_same_shape(const struct nn_tensor *a, const struct nn_tensor *b);
/* Size of the last dimension. */
static inline int64_t nn_last_dim(const struct nn_tensor *t) { return t->shape[t->ndim - 1]; }

/* Assert that a tensor has the given number of dimensions, naming the op. */
#define NN_CHECK_NDIM(op, t, n)                                                    \
  do {                                                                             \
    char nn_b_[64];                                                                \
    NN_ASSERT((t)->ndim == (n), "%s: %s must have %d dims, got %s", op, #t, (int)(n), \
              nn_shape_str((t), nn_b_, sizeof nn_b_));                             \
  } while (0)

#endif
