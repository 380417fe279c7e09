/* nn_graph: the define-by-run tape of one step. Ops run immediately, allocate their outputs
 * in the step arena and append a node; nn_backward walks the nodes in reverse. */
#ifndef NN_GRAPH_H
#define NN_GRAPH_H
#include "nn_arena.h"
#include "nn_op.h"
#include "nn_status.h"
#include "nn_tensor.h"

struct nn_backend;
struct nn_graph;
struct nn_node;

#define NN_MAX_IN 8

typedef void (*nn_backward_fn)(struct nn_graph *g, struct nn_node *n);
/* Attention probe (inference tools: attn_train attention, src/attnmap.h): called by attention layers
 * with their name (the layer's parameter prefix, e.g. "blocks.2.attn") and probabilities p(B,H,T,S)
 * (backend memory, valid until the next nn_graph_reset). */
typedef void (*nn_probe_fn)(void *ctx, struct nn_graph *g, const char *name, const struct nn_tensor *p);

struct nn_node {
  enum nn_op op;
  nn_backward_fn backward;  /* reads out->grad, accumulates (+=) into in[i]->grad */
  struct nn_tensor *out;
  struct nn_tensor *in[NN_MAX_IN];
  int nin;
  struct nn_tensor *saved[4]; /* tensors kept for backward (statistics, masks, ...) */
  const void *attr;           /* the op's typed attributes: a copy of its kernel argument struct
                                 (struct nn_<family>_args, see nn_node_attr) */
  struct nn_node *prev;
};

/* Called from backward when the gradient of parameter `index` is final for this step. */
typedef void (*nn_grad_ready_fn)(void *ctx, int param_index);
/* Sum x(n) over the ranks of a data-parallel job, in place (synchronised batch norm). */
typedef nn_status (*nn_reduce_fn)(void *ctx, double *x, int n);

struct nn_graph {
  const struct nn_backend *be;
  struct nn_arena meta;       /* host: tensor structs and nodes */
  struct nn_arena mem;        /* backend memory: tensor data and gradients */
  struct nn_node *last;       /* newest node */
  int64_t nnodes;
  int training;               /* dropout active, batchnorm uses batch statistics */
  int grad_enabled;           /* record nodes (0: inference, nothing is recorded) */
  uint64_t seed;              /* run seed, for dropout masks */
  int64_t step;               /* global step, for dropout masks */
  int64_t sample_base;        /* dropout key of this rank's first example in the global batch */
  int64_t sample_stride;      /* key step between consecutive local examples: example b of this
                                 rank has key sample_base + b * sample_stride (rank + b * nranks
                                 under a DistributedSampler, so N ranks match 1 rank on N x batch) */
  int64_t rng_calls;          /* random ops so far in this step (the stream of the next one) */
  nn_status status;           /* sticky error (out of memory) */
  /* attention probe: NULL (the default, kept by nn_graph_reset) = off, one pointer test per call */
  nn_probe_fn probe;
  void *probe_ctx;
  struct nn_tensor *attn_probs; /* probabilities (B,H,T,S) of the newest nn_attention call of this step */
  /* parameter readiness, used by comm to start bucket reductions during backward */
  int nparams;
  int32_t *param_uses;        /* per parameter: nodes of this step still to run backward */
  nn_grad_ready_fn grad_ready;
  void *grad_ready_ctx;
  /* cross-rank reduction for ops whose statistics span the global batch (batch norm with
   * --sync-bn); NULL: this process's batch is the whole batch. Set by the trainer. */
  nn_reduce_fn reduce;
  void *reduce_ctx;
  /* memory reuse during backward (docs/arch/convperf.md): the gradient of a node's output goes back
   * to the arena once that node's backward has run (its consumers ran before it), unless keep_grads;
   * scratch taken during a node's backward (nn_scratch) goes back after it. */
  int keep_grads;             /* 1: every gradient stays valid until nn_graph_reset (default 0) */
  int bwd_scratch_n;          /* scratch blocks of the running node's backward (-1: not in backward) */
  void *bwd_scratch_p[8];
  size_t bwd_scratch_bytes[8];
};

/* Set up a graph over backend be (arena chunks of chunk_bytes, 0 for a default). */
void nn_graph_init(struct nn_graph *g, const struct nn_backend *be, size_t chunk_bytes);
/* Release the arenas. */
void nn_graph_destroy(struct nn_graph *g);
/* Start a new step: reset the tape and arenas (tensors of the previous step become invalid). */
void nn_graph_reset(struct nn_graph *g);
/* Track the readiness of nparams parameters, calling ready(ctx, index) during backward. */
nn_status nn_graph_track_params(struct nn_graph *g, int nparams, nn_grad_ready_fn ready, void *ctx);

/* A new uninitialised tensor of the given shape in the step arena (NULL and g->status set on OOM). */
struct nn_tensor *nn_new(struct nn_graph *g, enum nn_dtype dt, int ndim, const int64_t *shape);
/* Same, shaped like t, float32. */
struct nn_tensor *nn_new_like(struct nn_graph *g, const struct nn_tensor *t);
/* A zero-filled float32 tensor. */
struct nn_tensor *nn_zeros(struct nn_graph *g, int ndim, const int64_t *shape);
/* Scratch memory of bytes in the step arena (NULL and g->status set on OOM). Taken inside a node's
 * backward, it is handed back when that backward returns; taken in a forward, it lives until
 * nn_graph_reset unless handed back with nn_scratch_free. */
void *nn_scratch(struct nn_graph *g, size_t bytes);
/* Hand back forward scratch p of bytes (the newest first keeps the arena a stack); NULL p: no-op. */
void nn_scratch_free(struct nn_graph *g, void *p, size_t bytes);
/* A tensor struct sharing t's data with another shape (no copy, no node). */
struct nn_tensor *nn_view(struct nn_graph *g, struct nn_tensor *t, int ndim, const int64_t *shape);

/* Append a node for op with output out and inputs in[0..nin) if any input requires a gradient
 * and grad is enabled; marks out->requires_grad. Returns the node (to fill attr/saved) or NULL. */
struct nn_node *nn_record(struct nn_graph *g, enum nn_op op, nn_backward_fn backward,
                          struct nn_tensor *out, int nin, struct nn_tensor *const *in);
/* Keep a copy of the op's argument struct (bytes) as n->attr for its backward; NULL n is fine. */
void nn_node_attr(struct nn_graph *g, struct nn_node *n, const void *args, size_t bytes);
/* The gradient buffer of t, allocated and zeroed on first use (backward only). */
float *nn_grad(struct nn_graph *g, struct nn_tensor *t);
/* Backpropagate from scalar loss: gradients accumulate (+=) into every tensor that requires one.
 * Gradients of node outputs (not parameters, not leaves, not loss) are released as soon as the
 * producing node's backward has run, unless g->keep_grads: read only leaves' gradients after it. */
nn_status nn_backward(struct nn_graph *g, struct nn_tensor *loss);
/* Backpropagate from any tensor t with d(loss)/dt = seed (host array of t->numel floats); seed NULL:
 * the caller has already written t's gradient (nn_grad(g, t), then filled it). */
nn_status nn_backward_from(struct nn_graph *g, struct nn_tensor *t, const float *seed);

/* Hand attention probabilities p(B,H,T,S) of the layer called name to g's probe, if one is set.
 * blk_mha_fwd does this for its layers; a model whose attention does not go through it (a
 * translator's cross-attention) calls nn_probe(g, "decoder.attn", g->attn_probs) right after its
 * nn_attention, or passes its own probabilities (H = 1 when there are no heads). */
static inline void nn_probe(struct nn_graph *g, const char *name, const struct nn_tensor *p) {
  if (g->probe && p) g->probe(g->probe_ctx, g, name, p);
}

/* Return NULL from an op builder when any of its inputs is NULL (an earlier op ran out of memory). */
#define NN_NULL_IN(...)                                                              \
  do {                                                                              \
    const void *nn_in_[] = {__VA_ARGS__};                                           \
    for (size_t nn_k_ = 0; nn_k_ < sizeof nn_in_ / sizeof nn_in_[0]; nn_k_++)       \
      if (!nn_in_[nn_k_]) return NULL;                                              \
  } while (0)

#endif
