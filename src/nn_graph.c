#include "nn_graph.h"
#include "nn_backend.h"
#include <stdlib.h>
#include <string.h>

#define NN_OP_NAME_(e, name) [NN_OP_##e] = name,
static const char *op_names[NN_OP_COUNT] = {NN_OPS(NN_OP_NAME_)};
#undef NN_OP_NAME_

const char *nn_op_name(enum nn_op op) {
  return (op >= 0 && op < NN_OP_COUNT && op_names[op]) ? op_names[op] : "op?";
}

void nn_graph_init(struct nn_graph *g, const struct nn_backend *be, size_t chunk_bytes) {
  memset(g, 0, sizeof *g);
  g->be = be;
  nn_arena_init(&g->meta, 1 << 20, NULL);
  nn_arena_init(&g->mem, chunk_bytes ? chunk_bytes : (size_t)64 << 20, be);
  g->training = 1;
  g->grad_enabled = 1;
  nn_backend_use(be);
  g->sample_stride = 1;
  g->bwd_scratch_n = -1;
}

void nn_graph_destroy(struct nn_graph *g) {
  nn_arena_destroy(&g->meta);
  nn_arena_destroy(&g->mem);
  free(g->param_uses);
  g->param_uses = NULL;
}

void nn_graph_reset(struct nn_graph *g) {
  nn_arena_reset(&g->meta);
  nn_arena_reset(&g->mem);
  g->last = NULL;
  g->nnodes = 0;
  g->rng_calls = 0;
  g->attn_probs = NULL;
  g->status = NN_OK;
  g->bwd_scratch_n = -1;
  nn_backend_use(g->be);
  if (g->param_uses) memset(g->param_uses, 0, sizeof(int32_t) * (size_t)g->nparams);
}

nn_status nn_graph_track_params(struct nn_graph *g, int nparams, nn_grad_ready_fn ready, void *ctx) {
  free(g->param_uses);
  g->param_uses = calloc((size_t)(nparams ? nparams : 1), sizeof(int32_t));
  if (!g->param_uses) return nn_fail(NN_ERR_OOM, "out of memory tracking %d parameters", nparams);
  g->nparams = nparams;
  g->grad_ready = ready;
  g->grad_ready_ctx = ctx;
  return NN_OK;
}

static void *oom(struct nn_graph *g, size_t bytes, const char *what) {
  if (g->status == NN_OK)
    g->status = nn_fail(NN_ERR_OOM, "out of memory: %s of %zu bytes (step arena holds %zu bytes)",
                        what, bytes, g->mem.used + g->meta.used);
  return NULL;
}

void *nn_scratch(struct nn_graph *g, size_t bytes) {
  void *p = nn_arena_alloc(&g->mem, bytes);
  if (!p) return oom(g, bytes, "scratch buffer");
  int k = g->bwd_scratch_n;
  if (k >= 0 && k < (int)(sizeof g->bwd_scratch_p / sizeof g->bwd_scratch_p[0])) { /* more: kept till reset */
    g->bwd_scratch_p[k] = p;
    g->bwd_scratch_bytes[k] = bytes;
    g->bwd_scratch_n++;
  }
  return p;
}

void nn_scratch_free(struct nn_graph *g, void *p, size_t bytes) { nn_arena_free(&g->mem, p, bytes); }

static struct nn_tensor *tensor_struct(struct nn_graph *g) {
  struct nn_tensor *t = nn_arena_alloc(&g->meta, sizeof *t);
  if (!t) return oom(g, sizeof *t, "tensor header");
  memset(t, 0, sizeof *t);
  t->param_index = -1;
  return t;
}

struct nn_tensor *nn_new(struct nn_graph *g, enum nn_dtype dt, int ndim, const int64_t *shape) {
  struct nn_tensor *t = tensor_struct(g);
  if (!t) return NULL;
  t->dtype = dt;
  nn_tensor_set_shape(t, ndim, shape);
  size_t bytes = (size_t)t->numel * nn_dtype_size(dt);
  t->ptr = nn_arena_alloc(&g->mem, bytes);
  if (!t->ptr) return oom(g, bytes, "tensor");
  return t;
}

struct nn_tensor *nn_new_like(struct nn_graph *g, const struct nn_tensor *t) {
  return nn_new(g, NN_F32, t->ndim, t->shape);
}

struct nn_tensor *nn_zeros(struct nn_graph *g, int ndim, const int64_t *shape) {
  struct nn_tensor *t = nn_new(g, NN_F32, ndim, shape);
  if (t) nn_be_fill(g->be, t->data, 0.0f, t->numel);
  return t;
}

struct nn_tensor *nn_view(struct nn_graph *g, struct nn_tensor *t, int ndim, const int64_t *shape) {
  struct nn_tensor *v = tensor_struct(g);
  if (!v) return NULL;
  *v = *t;
  nn_tensor_set_shape(v, ndim, shape);
  char a[64], b[64];
  NN_ASSERT(v->numel == t->numel, "view: %s has %lld elements, target shape %s has %lld",
            nn_shape_str(t, a, sizeof a), (long long)t->numel, nn_shape_str(v, b, sizeof b),
            (long long)v->numel);
  return v;
}

struct nn_node *nn_record(struct nn_graph *g, enum nn_op op, nn_backward_fn backward,
                          struct nn_tensor *out, int nin, struct nn_tensor *const *in) {
  NN_ASSERT(nin <= NN_MAX_IN, "%s: %d inputs (max %d)", nn_op_name(op), nin, NN_MAX_IN);
  if (!g->grad_enabled) return NULL;
  int need = 0;
  for (int k = 0; k < nin; k++)
    if (in[k] && in[k]->requires_grad) need = 1;
  if (!need) return NULL;
  struct nn_node *n = nn_arena_alloc(&g->meta, sizeof *n);
  if (!n) return oom(g, sizeof *n, "tape node");
  memset(n, 0, sizeof *n);
  n->op = op;
  n->backward = backward;
  n->out = out;
  n->nin = nin;
  for (int k = 0; k < nin; k++) {
    n->in[k] = in[k];
    if (g->param_uses && in[k] && in[k]->param_index >= 0 && in[k]->requires_grad) {
      /* a parameter used twice by one node counts once */
      int dup = 0;
      for (int j = 0; j < k; j++) dup |= in[j] == in[k];
      if (!dup) g->param_uses[in[k]->param_index]++;
    }
  }
  out->requires_grad = 1;
  out->grad = NULL;
  n->prev = g->last;
  g->last = n;
  g->nnodes++;
  return n;
}

void nn_node_attr(struct nn_graph *g, struct nn_node *n, const void *args, size_t bytes) {
  if (!n) return;
  void *a = nn_arena_alloc(&g->meta, bytes);
  if (!a) {
    oom(g, bytes, "node attributes");
    return;
  }
  memcpy(a, args, bytes);
  n->attr = a;
}

float *nn_grad(struct nn_graph *g, struct nn_tensor *t) {
  if (!t->grad) {
    size_t bytes = (size_t)t->numel * sizeof(float);
    t->grad = nn_arena_alloc(&g->mem, bytes);
    if (!t->grad) return oom(g, bytes, "gradient");
    nn_be_fill(g->be, t->grad, 0.0f, t->numel);
  }
  return t->grad;
}

nn_status nn_backward(struct nn_graph *g, struct nn_tensor *loss) {
  NN_ASSERT(loss && loss->numel == 1, "backward: loss must be a scalar");
  const float one = 1.0f;
  return nn_backward_from(g, loss, &one);
}

nn_status nn_backward_from(struct nn_graph *g, struct nn_tensor *loss, const float *seed) {
  if (g->status != NN_OK) return g->status;
  if (!loss->requires_grad) return nn_fail(NN_ERR_STATE, "backward: the loss does not depend on any trainable parameter");
  if (!seed && !loss->grad) return nn_fail(NN_ERR_STATE, "backward: no seed given and no gradient set on the tensor");
  if (seed) {
    if (!nn_grad(g, loss)) return g->status;
    nn_be_to_device(g->be, loss->grad, seed, sizeof(float) * (size_t)loss->numel);
  }
  for (struct nn_node *n = g->last; n; n = n->prev) {
    if (n->out->grad) {
      for (int k = 0; k < n->nin; k++)
        if (n->in[k] && n->in[k]->requires_grad && !nn_grad(g, n->in[k])) return g->status;
      g->bwd_scratch_n = 0;
      n->backward(g, n);
      for (int k = g->bwd_scratch_n - 1; k >= 0; k--) nn_arena_free(&g->mem, g->bwd_scratch_p[k], g->bwd_scratch_bytes[k]);
      g->bwd_scratch_n = -1;
      if (g->status != NN_OK) return g->status;
      struct nn_tensor *o = n->out; /* every consumer of o ran before n: its gradient is dead */
      if (!g->keep_grads && o != loss && o->param_index < 0) {
        nn_arena_free(&g->mem, o->grad, (size_t)o->numel * sizeof(float));
        o->grad = NULL;
      }
    }
    if (g->param_uses) {
      for (int k = 0; k < n->nin; k++) {
        struct nn_tensor *p = n->in[k];
        if (!p || p->param_index < 0 || !p->requires_grad) continue;
        int dup = 0;
        for (int j = 0; j < k; j++) dup |= n->in[j] == p;
        if (!dup && --g->param_uses[p->param_index] == 0 && g->grad_ready)
          g->grad_ready(g->grad_ready_ctx, p->param_index);
      }
    }
  }
  return NN_OK;
}
