/* nn_backend: backend instances (docs/arch/backend.md).
 *
 * A backend TYPE is a const table of kernels (struct nn_kernels), one per kind of device: the CPU
 * table lives in src/cpu/backend_cpu.c, a CUDA one would live in src/cuda. A backend INSTANCE
 * (struct nn_backend) is a type plus a context: the CPU context holds the thread count; a GPU
 * context would hold the device index, stream, library handles and a device arena. Every kernel
 * receives the instance as its first argument, so it can reach its context (be->ctx).
 *
 * Op code (src/ops) calls kernels only through g->be->k; each op family declares its kernel
 * struct and ONE argument struct (struct nn_<family>_args, named fields: dims, attributes,
 * pointers) in src/ops/<family>.h, shared by the op's forward and backward and every backend.
 *
 * Nothing outside a backend's own directory reads or writes backend memory directly: host code
 * stages through nn_be_to_host / nn_be_to_device (backend.host_memory tells whether pointers
 * are host-addressable, e.g. for choosing the gradient-communication implementation). */
#ifndef NN_BACKEND_H
#define NN_BACKEND_H
#include "nn_status.h"
#include <stddef.h>
#include <stdint.h>

struct nn_k_matmul; struct nn_k_binary; struct nn_k_act; struct nn_k_softmax; struct nn_k_loss;
struct nn_k_layernorm; struct nn_k_embed; struct nn_k_dropout; struct nn_k_conv; struct nn_k_pool;
struct nn_k_bnorm; struct nn_k_shape; struct nn_k_reduce; struct nn_k_attn; struct nn_k_rope;
struct nn_k_rnn; struct nn_k_optim; struct nn_k_rnn_seq;
struct nn_backend;

/* Arguments of the generic batched product (the matmul/linear ops and conv use it). */
struct nn_gemm_args {
  /* c[i](m,n) = alpha * op(a[i]) op(b[i]) + beta * c[i], row-major, op = transpose when ta/tb,
   * for i < batch with element strides sa, sb, sc between matrices */
  float *c;
  const float *a, *b;
  int ta, tb;
  int64_t m, n, k;
  float alpha, beta;
  int64_t batch, sa, sb, sc;
};

/* The kernel table of one backend type. Every function takes the instance first. */
struct nn_kernels {
  const char *name;     /* "cpu", "cuda" */
  int host_memory;      /* 1: backend pointers are host-addressable (CPU) */
  /* set up / tear down be->ctx for device index `index` (0 when none given) */
  nn_status (*open)(struct nn_backend *be, int index, int threads);
  void (*close)(struct nn_backend *be);
  /* make this instance's settings current on the calling thread (CPU: its OpenMP thread count);
   * called by nn_graph_init/reset and nn_backend_use; may be NULL */
  void (*use)(const struct nn_backend *be);
  /* memory */
  void *(*alloc)(const struct nn_backend *be, size_t bytes); /* NULL on failure */
  void (*free)(const struct nn_backend *be, void *p);
  void (*to_device)(const struct nn_backend *be, void *dst, const void *src, size_t bytes);
  void (*to_host)(const struct nn_backend *be, void *dst, const void *src, size_t bytes);
  void (*copy)(const struct nn_backend *be, void *dst, const void *src, size_t bytes); /* device to device */
  void (*sync)(const struct nn_backend *be);                                       /* wait for queued work */
  /* x(n) = v */
  void (*fill)(const struct nn_backend *be, float *x, float v, int64_t n);
  /* y(n) += a * x(n) */
  void (*axpy)(const struct nn_backend *be, float *y, float a, const float *x, int64_t n);
  /* x(n) /= d, a true division (the gradient mean over d ranks, bit for bit as on the host) */
  void (*divide)(const struct nn_backend *be, float *x, float d, int64_t n);
  /* see struct nn_gemm_args */
  void (*gemm)(const struct nn_backend *be, const struct nn_gemm_args *a);
  /* op families (src/ops/<family>.h) */
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

/* A backend instance. */
struct nn_backend {
  const struct nn_kernels *k; /* the type's kernel table */
  int index;                  /* device index ("cuda:N"), 0 for cpu */
  int threads;                /* CPU threads of this instance (0: leave OpenMP's default) */
  void *ctx;                  /* the type's own context (stream, handles, ...), NULL for cpu */
  char device[32];            /* as opened: "cpu", "cuda:1" */
};

/* Options of nn_backend_open. */
struct nn_backend_opts {
  int threads;    /* CPU threads (>= 1; 0: OpenMP's default) */
  int local_rank; /* rank on this node: the default device index for "cuda" without :N */
};

/* Open a backend instance for device "cpu", "cuda" or "cuda:N". Errors name the option --device. */
nn_status nn_backend_open(const char *device, const struct nn_backend_opts *o, struct nn_backend **out);
/* Close an instance from nn_backend_open (NULL is fine). */
void nn_backend_close(struct nn_backend *be);
/* Make be's settings current (CPU: OpenMP threads); only needed when instances alternate. */
void nn_backend_use(const struct nn_backend *be);
/* Set a CPU instance's thread count (and make it current). */
void nn_backend_set_threads(struct nn_backend *be, int threads);

/* Registration point for further backend types (src/cuda calls it from a constructor or
 * nn_backend_open finds it by name); returns 0 on success. At most 8 types. */
int nn_backend_register(const struct nn_kernels *k);
/* The registered table named name ("cpu", "cuda"), NULL when this build has none. */
const struct nn_kernels *nn_backend_find(const char *name);

/* Entries that ref fills (the CPU table) and k leaves NULL: their count, and their names in buf
 * ("rnn_seq (whole family)", "bnorm (kernel 3 of 4)", ...; buf may be NULL). nn_backend_open refuses a
 * type with missing entries, naming them. */
int nn_backend_missing(const struct nn_kernels *k, const struct nn_kernels *ref, char *buf, size_t n);

/* The CPU kernel table, and a ready CPU instance (OpenMP's default threads) for tests and tools. */
extern const struct nn_kernels nn_cpu_kernels;
extern struct nn_backend nn_cpu_backend;

/* Memory through an instance. */
static inline void *nn_be_alloc(const struct nn_backend *be, size_t bytes) { return be->k->alloc(be, bytes); }
static inline void nn_be_free(const struct nn_backend *be, void *p) { if (p) be->k->free(be, p); }
static inline void nn_be_to_device(const struct nn_backend *be, void *dst, const void *src, size_t bytes) {
  be->k->to_device(be, dst, src, bytes);
}
static inline void nn_be_to_host(const struct nn_backend *be, void *dst, const void *src, size_t bytes) {
  be->k->to_host(be, dst, src, bytes);
}
static inline void nn_be_copy(const struct nn_backend *be, void *dst, const void *src, size_t bytes) {
  be->k->copy(be, dst, src, bytes);
}
static inline void nn_be_sync(const struct nn_backend *be) { if (be->k->sync) be->k->sync(be); }
static inline void nn_be_fill(const struct nn_backend *be, float *x, float v, int64_t n) { be->k->fill(be, x, v, n); }
static inline void nn_be_axpy(const struct nn_backend *be, float *y, float a, const float *x, int64_t n) {
  be->k->axpy(be, y, a, x, n);
}
static inline void nn_be_divide(const struct nn_backend *be, float *x, float d, int64_t n) { be->k->divide(be, x, d, n); }
/* c = alpha op(a) op(b) + beta c, as struct nn_gemm_args */
static inline void nn_be_gemm(const struct nn_backend *be, float *c, const float *a, const float *b, int ta, int tb,
                              int64_t m, int64_t n, int64_t k, float alpha, float beta, int64_t batch, int64_t sa,
                              int64_t sb, int64_t sc) {
  struct nn_gemm_args g = {c, a, b, ta, tb, m, n, k, alpha, beta, batch, sa, sb, sc};
  be->k->gemm(be, &g);
}

#endif
