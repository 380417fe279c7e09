#include "nn_tensor.h"
#include "nn_status.h"
#include <stdio.h>

size_t nn_dtype_size(enum nn_dtype dt) {
  return dt == NN_I64 ? 8 : 4;
}

void nn_tensor_set_shape(struct nn_tensor *t, int ndim, const int64_t *shape) {
  NN_ASSERT(ndim >= 0 && ndim <= NN_MAX_DIM, "tensor: %d dims (max %d)", ndim, NN_MAX_DIM);
  t->ndim = ndim;
  t->numel = 1;
  for (int i = 0; i < NN_MAX_DIM; i++) {
    t->shape[i] = i < ndim ? shape[i] : 1;
    if (i < ndim) {
      NN_ASSERT(shape[i] >= 0, "tensor: negative size %lld in dim %d", (long long)shape[i], i);
      t->numel *= shape[i];
    }
  }
}

char *nn_shape_str(const struct nn_tensor *t, char *buf, size_t len) {
  size_t o = 0;
  o += (size_t)snprintf(buf + o, len - o, "(");
  for (int i = 0; i < t->ndim && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)t->shape[i]);
  if (o < len) snprintf(buf + o, len - o, ")");
  return buf;
}

int nn_same_shape(const struct nn_tensor *a, const struct nn_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}
