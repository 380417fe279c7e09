/* nn_backend: the kernel table. Op code calls kernels only through it; each op family
 * declares its own kernel struct in src/ops/<family>.h and each backend fills one in. */
#ifndef NN_BACKEND_H
#define NN_BACKEND_H
#include <stddef.h>
#include <stdint.h>

struct nn_k_matmul; struct nn_k_binary; struct nn_k_act; struct nn_k_softmax; struct nn_k_loss;
struct nn_k_layernorm; struct nn_k_embed; struct nn_k_dropout; struct nn_k_conv; struct nn_k_pool;
struct nn_k_bnorm; struct nn_k_shape; struct nn_k_reduce; struct nn_k_attn; struct nn_k_rope;
struct nn_k_rnn; struct nn_k_optim; struct nn_k_rnn_seq;

struct nn_backend {
  const char *name;
  /* memory */
  void *(*alloc)(size_t bytes);                        /* NULL on failure */
  void (*free)(void *p);
  void (*to_device)(void *dst, const void *src, size_t bytes);
  void (*to_host)(void *dst, const void *src, size_t bytes);
  void (*copy)(void *dst, const void *src, size_t bytes); /* device to device */
  void (*sync)(void);                                  /* wait for queued work */
  /* x(n) = v */
  void (*fill)(float *x, float v, int64_t n);
  /* y(n) += a * x(n) */
  void (*axpy)(float *y, float a, const float *x, int64_t n);
  /* c[b](m,n) = alpha * op(a[b]) op(b[b]) + beta * c[b], row-major, op = transpose when t*,
   * for b < batch with element strides sa, sb, sc between matrices */
  void (*gemm)(float *c, const float *a, const float *b, int ta, int tb, int64_t m, int64_t n,
               int64_t k, float alpha, float beta, int64_t batch, int64_t sa, int64_t sb, int64_t sc);
  /* threads for the compute kernels */
  void (*set_threads)(int n);
  /* op families */
  const struct nn_k_matmul *matmul;
  const struct nn_k_binary *binary;
  const struct nn_k_act *act;
  const struct nn_k_softmax *softmax;
  const struct nn_k_loss *loss;
  const struct nn_k_layernorm *layernorm;
  const struct nn_k_embed *embed;
  const struct nn_k_dropout *dropout;
  const struct nn_k_conv *conv;
  const struct nn_k_pool *pool;
  const struct nn_k_bnorm *bnorm;
  const struct nn_k_shape *shape;
  const struct nn_k_reduce *reduce;
  const struct nn_k_attn *attn;
  const struct nn_k_rope *rope;
  const struct nn_k_rnn *rnn;
  const struct nn_k_optim *optim;
  const struct nn_k_rnn_seq *rnn_seq;
};

/* The CPU backend (OpenBLAS sgemm + OpenMP loops). */
extern const struct nn_backend nn_cpu_backend;

#endif
